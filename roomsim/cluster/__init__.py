"""Many rooms on many nodes: rooms generated from distributions, and room placement through
a shared routing store (simulated Redis), as a clustered SFU deployment does."""
