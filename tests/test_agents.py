"""Voice agents: turn latency is the sum of its stages, the network stages match the audio
latency measured on its own, a backbone hop counts twice, and the CLI reads the numbers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from roomsim.cli import main
from roomsim.results.models import RunResult
from tests.helpers import run

USER_NET = {"uplink_kbps": 10_000, "downlink_kbps": 10_000, "rtt_ms": 60, "jitter_ms": 0, "loss_pct": 0,
            "queue_ms": 300}
FIXED = {"endpointing": {"mean_ms": 300}, "stt": {"mean_ms": 100}, "llm_ttft": {"mean_ms": 250},
         "tts_ttfa": {"mean_ms": 150}, "reply_s": {"mean_ms": 1500}}
PIPELINE_MS = 300 + 100 + 250 + 150


def conversation(backbone_ms: float = 0.0, site: str = "datacenter", transport: str = "webrtc",
                 seconds: float = 30, **agent: Any) -> dict[str, Any]:
    return {"name": "agent", "duration_s": seconds, "warmup_s": 2, "nodes": [{"id": "node"}],
            "rooms": [{"id": "r", "participants": [
                {"id": "user", "network": USER_NET, "transport": transport, "tracks": [{"kind": "audio"}],
                 "turns": {"first_s": 2.5, "utterance": {"mean_ms": 1500}, "pause_after_reply": {"mean_ms": 500}}},
                {"id": "bot", "kind": "agent", "tracks": [{"kind": "audio"}],
                 "agent": {"listens_to": "user", "placement": {"site": site, "backbone_ms": backbone_ms},
                           **FIXED, **agent}}]}]}


def by_id(result: RunResult, pid: str) -> Any:
    return next(p for p in result.participants if p.id == pid)


@pytest.mark.parametrize("topology", ["mesh", "sfu", "mcu"])
def test_turn_latency_is_its_stages_and_the_network_stages_are_the_audio_latency(topology: str) -> None:
    """Fixed pipeline stages, no jitter or loss: the pipeline stages come out exactly, the
    stages add up to the turn, and each network stage equals that direction's measured
    audio latency (capture to playout) plus the wait for the 20 ms frame that holds the
    moment speech stops or starts (0-20 ms)."""
    result = run(conversation(), topology)
    agent = result.agents[0]
    assert agent.turns >= 3
    stages = {k: v.mean for k, v in agent.stages_ms.items()}
    assert stages["endpointing"] == 300 and stages["stt"] == 100 and stages["llm_ttft"] == 250
    assert sum(stages.values()) == pytest.approx(agent.turn_latency_ms.mean, abs=0.01)
    to_agent = by_id(result, "bot").audio_latency_ms.p50
    to_user = by_id(result, "user").audio_latency_ms.p50
    assert to_agent - 1 <= stages["user_to_agent"] <= to_agent + 21
    assert to_user - 1 <= stages["agent_to_user"] <= to_user + 21
    assert agent.turn_latency_ms.mean == pytest.approx(PIPELINE_MS + stages["user_to_agent"]
                                                       + stages["agent_to_user"], abs=0.01)
    assert agent.over_budget_pct == 100.0  # 800 ms of pipeline alone exceeds 500 ms


def test_a_backbone_hop_adds_its_delay_twice() -> None:
    near = run(conversation(backbone_ms=0), "sfu").agents[0]
    far = run(conversation(backbone_ms=40), "sfu").agents[0]
    assert near.turns == far.turns
    assert far.turn_latency_ms.mean - near.turn_latency_ms.mean == pytest.approx(80, abs=2)
    assert far.stages_ms["user_to_agent"].mean - near.stages_ms["user_to_agent"].mean == pytest.approx(40, abs=1)
    assert far.stages_ms["agent_to_user"].mean - near.stages_ms["agent_to_user"].mean == pytest.approx(40, abs=1)


def test_an_agent_on_the_media_node_saves_its_access_network() -> None:
    datacenter = run(conversation(site="datacenter"), "sfu").agents[0]
    on_node = run(conversation(site="media-node"), "sfu").agents[0]
    assert on_node.turn_latency_ms.mean < datacenter.turn_latency_ms.mean


def test_over_websocket_with_loss_turns_get_slower() -> None:
    lossy = {**USER_NET, "loss_pct": 2, "jitter_ms": 3}
    raws = [conversation(transport=t, seconds=40) for t in ("webrtc", "websocket")]
    for raw in raws:
        raw["rooms"][0]["participants"][0]["network"] = lossy
    udp, tcp = (run(raw, "sfu").agents[0] for raw in raws)
    assert tcp.user_transport == "websocket"
    assert tcp.turn_latency_ms.mean > udp.turn_latency_ms.mean + 30


def test_agent_latency_command_prints_the_breakdown_and_says_what_dominates(tmp_path: Any) -> None:
    import yaml

    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(conversation(seconds=20)))
    result = CliRunner().invoke(main, ["agent-latency", str(path), "--topologies", "sfu,mcu"])
    assert result.exit_code == 0, result.output
    out = result.output
    for column in ("sfu/webrtc", "sfu/websocket", "mcu/webrtc", "mcu/websocket"):
        assert column in out
    assert "the largest stage is the endpointing silence (300 ms" in out  # computed, not canned
    assert "then the LLM first token (250 ms" in out
    assert "WebSocket/TCP instead of WebRTC" in out
    as_json = CliRunner().invoke(main, ["agent-latency", str(path), "--topologies", "sfu", "--transports",
                                        "webrtc", "--json", "--chart", str(tmp_path / "turns.png")])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    assert document["runs"][0]["agent"]["stages_ms"]["stt"]["mean"] == 100
    assert (tmp_path / "turns.png").stat().st_size > 10_000


def test_agent_latency_refuses_a_scenario_without_agents(tmp_path: Any) -> None:
    import yaml

    raw = conversation()
    raw["rooms"][0]["participants"].pop()
    path = tmp_path / "noagent.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(main, ["agent-latency", str(path)])
    assert result.exit_code == 2
    assert "no participant of kind agent" in result.output
