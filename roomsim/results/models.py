"""Result models (the JSON contract of DESIGN.md) and their writers.

Units at this edge only: kbps/Mbps on the wire (headers included), `*_payload_*` codec
bytes only, latency in ms (capture to decoded at the receiver), CPU in cores.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path
from typing import Any

from roomsim.scenario.frozen import Frozen


class Percentiles(Frozen):
    """Latency percentiles in ms (None when nothing was received)."""

    p50: float | None
    p95: float | None
    p99: float | None
    samples: int


class StageStats(Frozen):
    """One latency stage in ms: mean (means of stages add up to the mean total) and
    percentiles (which do not add up). A participant's media breakdown carries means only;
    the run's carries percentiles too."""

    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None


class QualityResult(Frozen):
    """Quality proxies (roomsim/results/quality.py): E-model MOS for audio, a stated proxy for video."""

    audio_codec: str | None
    mouth_to_ear_ms: float | None
    audio_loss_pct: float
    audio_late_pct: float
    audio_r: float | None
    audio_mos: float | None
    video_pixels: float | None
    video_fps: float | None
    video_frozen_pct: float | None
    video_mos: float | None


class TransportResult(Frozen):
    """What the participant's transport did on its own two links (whole run)."""

    kind: str
    rtx_packets: int
    repaired_packets: int
    tcp_retransmits: int
    tcp_timeouts: int
    tcp_fast_retransmits: int


class DataResult(Frozen):
    """The participant's data plane: wire rates (SCTP/DTLS/UDP/IP or TLS/TCP/IP bytes
    included), latency of what it received, round trips of the RPCs it called."""

    sent_kbps: float
    received_kbps: float
    messages_sent: int
    messages_received: int
    messages_lost: int
    message_latency_ms: Percentiles
    rpc_rtt_ms: Percentiles
    attribute_latency_ms: Percentiles


class LatencyHistogram(Frozen):
    """Capture-to-decode latency of a whole run, summed over receivers, in the engine's log bins.

    Bin 0 counts samples under `min_ms`, the last bin those over min_ms x 10^decades; bin i
    in between spans min_ms x 10^((i-1)/bins_per_decade) .. min_ms x 10^(i/bins_per_decade).
    Kept so latency CDFs can be drawn from stored results without rerunning anything.
    """

    bins_per_decade: int
    min_ms: float
    audio: list[int]
    video: list[int]


class ParticipantResult(Frozen):
    """What one participant sent, received, spent and experienced.

    `uplink_kbps`/`downlink_kbps` (and `*_payload_kbps`, `*_pps`) are the load OFFERED to
    the access link: every packet handed to it, retransmissions included, whether or not
    the link carried it. `uplink_carried_kbps`/`downlink_carried_kbps` are what the link
    CARRIED (offered minus queue drops and random loss); on a saturated link offered can
    far exceed capacity while carried stays at or below it. None in reports written before
    the carried figures existed.
    """

    id: str
    room: str
    device: str
    uplink_kbps: float
    downlink_kbps: float
    uplink_payload_kbps: float
    downlink_payload_kbps: float
    uplink_pps: float
    downlink_pps: float
    uplink_capacity_kbps: float
    downlink_capacity_kbps: float
    client_cpu_cores: float
    client_cpu_budget_cores: float
    latency_ms: Percentiles
    audio_latency_ms: Percentiles
    video_latency_ms: Percentiles
    loss_pct: float
    frame_loss_pct: float
    uplink_loss_pct: float
    frames_decoded: int
    frames_dropped_cpu: int
    expected_uplink_kbps: float
    expected_downlink_kbps: float
    expected_client_cpu_cores: float
    uplink_carried_kbps: float | None = None
    downlink_carried_kbps: float | None = None
    kind: str = "person"
    transport: TransportResult | None = None
    latency_breakdown_ms: dict[str, dict[str, StageStats]] = {}
    quality: QualityResult | None = None
    data: DataResult | None = None


class ServerResult(Frozen):
    """One media server node.

    `ingress_mbps`/`egress_mbps` (and `*_pps`) are offered to the node's NIC;
    `ingress_carried_mbps`/`egress_carried_mbps` what it carried (offered minus NIC queue
    drops). `cpu_cores` is the core-seconds of work the node accepted in the measurement
    window per second: a job is booked whole when accepted, so a saturated node whose
    backlog runs past the window's end can show `cpu_util_pct` a little above 100 (at most
    by max_queue_ms / measured seconds); work it refused is `cpu_dropped_jobs`, and its
    frames count as lost at the receivers.
    """

    id: str
    region: str
    cores: float
    ingress_mbps: float
    egress_mbps: float
    ingress_pps: float
    egress_pps: float
    cpu_cores: float
    cpu_util_pct: float
    cpu_dropped_jobs: int
    nic_dropped_packets: int
    ingress_carried_mbps: float | None = None
    egress_carried_mbps: float | None = None


class LinkResult(Frozen):
    """Counters of one link over the whole run: sent = delivered + dropped."""

    name: str
    sent_packets: int
    delivered_packets: int
    dropped_queue: int
    dropped_loss: int
    sent_bytes: int


class Totals(Frozen):
    """Room-wide sums."""

    participants: int
    uplink_mbps: float
    downlink_mbps: float
    server_ingress_mbps: float
    server_egress_mbps: float
    server_cpu_cores: float
    client_cpu_cores: float
    packets_sent: int
    packets_delivered: int
    packets_dropped: int
    latency_ms: Percentiles
    loss_pct: float


class AgentTurnResult(Frozen):
    """Turn latency of one voice agent: user stops speaking -> agent audio starts playing
    at the user, its stages (means add up to the mean turn latency) and the budget."""

    id: str
    listens_to: str
    user_transport: str
    turns: int
    turn_latency_ms: StageStats
    stages_ms: dict[str, StageStats]
    budget_ms: float
    over_budget_pct: float | None
    turns_without_reply: int


class ExtensionResult(Frozen):
    """A SIP caller, egress or ingress: what it costs beyond an ordinary participant."""

    id: str
    kind: str
    cpu_cores: float
    output_kbps: float
    input_kbps: float
    notes: str
    #: egress/ingress: "node" when its codec work ran on its room's node (cpu_cores is node
    #: CPU, measured, and part of that server's cpu_cores), "own-host" when costed on a
    #: host of its own; None for a SIP caller
    runs_on: str | None = None
    #: closed form of its node work (on a node only)
    expected_cpu_cores: float | None = None
    #: its node jobs a saturated node refused (lost output frames, lost decodes)
    node_jobs_dropped: int = 0


class DataPlaneResult(Frozen):
    """Room-wide data plane totals."""

    messages_sent: int
    deliveries: int
    lost: int
    wire_kbps: float
    message_latency_ms: Percentiles
    rpc_rtt_ms: Percentiles
    attribute_latency_ms: Percentiles
    metadata_latency_ms: Percentiles


class RunResult(Frozen):
    """One topology run on one scenario."""

    topology: str
    measured_s: float
    simulated_s: float
    participants: list[ParticipantResult]
    servers: list[ServerResult]
    links: list[LinkResult]
    totals: Totals
    expected: dict[str, Any]
    series: dict[str, Any]
    latency_histogram: LatencyHistogram | None = None
    #: Topology-specific figures (SFU: adaptation, keyframes, speakers, placement, relays,
    #: backbone); empty when a topology has none.
    details: dict[str, Any] = {}
    latency_breakdown_ms: dict[str, dict[str, StageStats]] = {}
    agents: list[AgentTurnResult] = []
    extensions: list[ExtensionResult] = []
    data_plane: DataPlaneResult | None = None


class Report(Frozen):
    """The document `--json` prints: one or more runs of one scenario."""

    roomsim_version: str
    scenario: str
    seed: int
    duration_s: float
    runs: list[RunResult]


def participant_rows(report: Report) -> list[dict[str, Any]]:
    """Flat rows, one per participant per run, ready for a DataFrame or CSV."""
    rows = []
    for run in report.runs:
        for p in run.participants:
            row: dict[str, Any] = {"scenario": report.scenario, "seed": report.seed,
                                   "topology": run.topology}
            row.update(_flatten(p.model_dump()))
            rows.append(row)
    return rows


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested result fields as flat columns: latency_ms_p50, quality_audio_mos, ..."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "samples":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}_"))
        else:
            out[name] = value
    return out


def server_rows(report: Report) -> list[dict[str, Any]]:
    """Flat rows, one per server per run."""
    return [{"scenario": report.scenario, "seed": report.seed, "topology": run.topology,
             **s.model_dump()} for run in report.runs for s in run.servers]


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """CSV text of flat rows (columns in first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that a reader (or a crash) never sees it half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are for reading and sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(report: Report, out_dir: Path) -> list[Path]:
    """Write report.json, participants.csv and servers.csv into out_dir."""
    files = {
        out_dir / "report.json": report.model_dump_json(indent=2) + "\n",
        out_dir / "participants.csv": rows_to_csv(participant_rows(report)),
        out_dir / "servers.csv": rows_to_csv(server_rows(report)),
    }
    for path, text in files.items():
        write_atomic(path, text)
    return list(files)
