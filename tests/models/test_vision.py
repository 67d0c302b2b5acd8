"""Images to models that can see: plots and attached pictures reach the fake OpenAI and
Anthropic servers as image parts, bounded; text-only models get paths, as before."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from fake_anthropic_server import anthropic_reply
from fake_openai_server import SSEServer, text_reply, tool_reply

from loci.approval import auto_approve
from loci.config import Settings
from loci.errors import ConfigError
from loci.events import KernelResult, Output, TurnDone
from loci.export import export_ipynb, export_markdown
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool
from loci.messages import Message
from loci.models import images as vision
from loci.models.anthropic import AnthropicModel, to_anthropic_messages
from loci.models.base import image_counter, message_tokens
from loci.models.openai_compat import OpenAIModel, to_openai_messages
from loci.models.registry import get_model
from loci.session import Session
from loci.store import Store


def png(width: int = 4, height: int = 3) -> bytes:
    """A valid (grey) PNG, made without Pillow."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PLOT = base64.b64encode(png()).decode()


def openai_model(server: SSEServer, *, vision_on: bool, tools: bool = True) -> OpenAIModel:
    model = OpenAIModel(
        "test-model",
        api_base=server.url + "/v1",
        api_key=None,
        tools=tools,
        context_window=64_000,
        name="openai:test-model",
        vision=vision_on,
        max_retries=0,
        timeout=10,
    )
    return server.own(model)


def anthropic_model(server: SSEServer, *, vision_on: bool) -> AnthropicModel:
    model = AnthropicModel(
        "claude-test",
        api_key="sk-ant-test",
        name="anthropic:claude-test",
        api_base=server.url,
        vision=vision_on,
        max_retries=0,
        timeout=10,
    )
    return server.own(model)


def call(code: str = "plot()") -> str:
    return json.dumps({"language": "python", "code": code})


def run_plot(
    settings: Settings, pool: KernelPool, model: Any, *outputs: Output, text: str = "plot it"
) -> Session:
    session = Session(settings, model=model, kernels=pool, approver=auto_approve)
    kernel = session.kernels.get("python")
    assert isinstance(kernel, FakeKernel)
    kernel.enqueue(Output("stdout", "plotted 3 points\n"), *outputs, KernelResult("ok"))
    events = list(session.run(text))
    done = events[-1]
    assert isinstance(done, TurnDone) and done.status == "done", done
    return session


def image_urls(request: Any) -> list[str]:
    return [
        part["image_url"]["url"]
        for m in request.json["messages"]
        if isinstance(m["content"], list)
        for part in m["content"]
        if part["type"] == "image_url"
    ]


# --- a plot made by code goes back as an image ---------------------------------------------


def test_openai_vision_gets_the_plot_after_the_tool_result(
    openai_server: SSEServer, settings: Settings, fake_pool: KernelPool
) -> None:
    openai_server.queue(tool_reply([("call_a", call())]), text_reply("A rising line."))
    model = openai_model(openai_server, vision_on=True)
    with run_plot(settings, fake_pool, model, Output("display", PLOT, mime="image/png")):
        pass
    sent = openai_server.requests[1].json["messages"]
    tool_at = next(i for i, m in enumerate(sent) if m["role"] == "tool")
    assert isinstance(sent[tool_at]["content"], str)  # tool messages carry text only
    assert "[image saved to " in sent[tool_at]["content"]
    after = sent[tool_at + 1]
    assert after["role"] == "user" and after["content"][0]["type"] == "text"
    assert after["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + PLOT},
    }


def test_text_only_model_gets_the_path_and_no_image(
    openai_server: SSEServer, settings: Settings, fake_pool: KernelPool
) -> None:
    openai_server.queue(tool_reply([("call_a", call())]), text_reply("A rising line."))
    model = openai_model(openai_server, vision_on=False)
    with run_plot(settings, fake_pool, model, Output("display", PLOT, mime="image/png")):
        pass
    second = openai_server.requests[1]
    assert image_urls(second) == []
    assert all(isinstance(m["content"], str | None) for m in second.json["messages"])
    tool = next(m for m in second.json["messages"] if m["role"] == "tool")
    assert "loci_outputs" in tool["content"] and ".png" in tool["content"]


def test_anthropic_vision_gets_the_plot_inside_the_tool_result(
    anthropic_server: SSEServer, settings: Settings, fake_pool: KernelPool
) -> None:
    anthropic_server.queue(
        anthropic_reply(tools=[("toolu_1", call())]), anthropic_reply(["A rising line."])
    )
    model = anthropic_model(anthropic_server, vision_on=True)
    with run_plot(settings, fake_pool, model, Output("display", PLOT, mime="image/png")):
        pass
    sent = anthropic_server.requests[1].json["messages"]
    result = next(b for m in sent for b in m["content"] if b["type"] == "tool_result")
    text, image = result["content"]
    assert text["type"] == "text" and "plotted 3 points" in text["text"]
    assert image == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PLOT},
    }


def test_anthropic_without_vision_gets_text_results(
    anthropic_server: SSEServer, settings: Settings, fake_pool: KernelPool
) -> None:
    anthropic_server.queue(
        anthropic_reply(tools=[("toolu_1", call())]), anthropic_reply(["A rising line."])
    )
    model = anthropic_model(anthropic_server, vision_on=False)
    with run_plot(settings, fake_pool, model, Output("display", PLOT, mime="image/png")):
        pass
    sent = anthropic_server.requests[1].json["messages"]
    result = next(b for m in sent for b in m["content"] if b["type"] == "tool_result")
    assert isinstance(result["content"], str) and ".png" in result["content"]


# --- the caps -----------------------------------------------------------------------------


def test_many_images_send_at_most_two_per_result_and_name_the_rest(
    openai_server: SSEServer, settings: Settings, fake_pool: KernelPool
) -> None:
    openai_server.queue(tool_reply([("call_a", call())]), text_reply("Five plots."))
    model = openai_model(openai_server, vision_on=True)
    plots = [Output("display", PLOT, mime="image/png") for _ in range(5)]
    with run_plot(settings, fake_pool, model, *plots) as session:
        stored = next(m for m in session.messages if m.role == "tool")
    assert len(stored.images) == 5  # the store keeps them all; the request is bounded
    second = openai_server.requests[1]
    assert len(image_urls(second)) == vision.PER_MESSAGE
    tool = next(m for m in second.json["messages"] if m["role"] == "tool")
    assert "not shown to the model" in tool["content"]
    for path in stored.images[vision.PER_MESSAGE :]:
        assert path in tool["content"]


def test_a_request_shows_at_most_four_images_the_newest(tmp_path: Path) -> None:
    paths = []
    for n in range(6):
        p = tmp_path / f"p{n}.png"
        p.write_bytes(png(n + 1, 1))
        paths.append(str(p))
    history = [
        Message("user", "plots"),
        *(Message("tool", f"[image saved to {p}]", tool_call_id=f"c{n}", images=(p,))
          for n, p in enumerate(paths)),
    ]  # fmt: skip
    chosen, parts = vision.select_images(history)
    assert sorted(parts) == sorted(paths[-vision.PER_REQUEST :])
    assert [m.images for m in chosen[1:3]] == [(), ()]  # older ones: their path in the text
    assert chosen[1].content == history[1].content


def test_an_image_over_the_cap_without_pillow_is_skipped_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(png(64, 64))
    monkeypatch.setattr(vision, "_pillow", lambda: None)
    chosen, parts = vision.select_images(
        [Message("tool", "done", tool_call_id="c", images=(str(big),))], max_bytes=50
    )
    assert parts == {} and chosen[0].images == ()
    assert "install Pillow" in chosen[0].content and str(big) in chosen[0].content


def test_an_image_over_the_cap_is_downscaled_with_pillow(tmp_path: Path) -> None:
    pil = pytest.importorskip("PIL.Image")
    big = tmp_path / "big.png"
    pil.effect_noise((2000, 2000), 64).save(big)  # noise does not compress
    part = vision.load_image(str(big), max_bytes=400_000)
    assert isinstance(part, vision.ImagePart) and part.mime == "image/png"
    raw = base64.b64decode(part.data)
    assert len(raw) <= 400_000 and raw.startswith(b"\x89PNG")


# --- an image attached to a request ----------------------------------------------------------


def test_an_image_named_in_the_request_reaches_the_server(
    openai_server: SSEServer, settings: Settings, fake_pool: KernelPool
) -> None:
    (settings.workdir / "chart.png").write_bytes(png())
    openai_server.queue(text_reply("It is a grey square."))
    model = openai_model(openai_server, vision_on=True, tools=False)  # a local vision server
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        list(s.run("what is in chart.png?"))
    sent = openai_server.requests[0].json["messages"]
    assert sent[-1]["role"] == "user"
    text, image = sent[-1]["content"]
    assert "what is in chart.png?" in text["text"]
    assert image["image_url"]["url"] == "data:image/png;base64," + PLOT


def test_a_text_only_model_gets_the_request_as_before(
    openai_server: SSEServer, settings: Settings, fake_pool: KernelPool
) -> None:
    (settings.workdir / "chart.png").write_bytes(png())
    openai_server.queue(text_reply("I cannot see it."))
    model = openai_model(openai_server, vision_on=False, tools=False)
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        list(s.run("what is in chart.png?"))
    last = openai_server.requests[0].json["messages"][-1]
    assert isinstance(last["content"], str) and "chart.png" in last["content"]


def test_anthropic_gets_an_attached_image_beside_the_text(tmp_path: Path) -> None:
    p = tmp_path / "photo.png"
    p.write_bytes(png())
    _, sent = to_anthropic_messages([Message("user", "look", images=(str(p),))], vision=True)
    assert [b["type"] for b in sent[0]["content"]] == ["text", "image"]


# --- tokens ---------------------------------------------------------------------------------


def test_documented_token_formulas() -> None:
    # OpenAI's examples: 1024×1024 → 4 tiles → 765; 2048×4096 → 768×1536 → 6 tiles → 1105
    assert vision.openai_image_tokens((1024, 1024)) == 765
    assert vision.openai_image_tokens((2048, 4096)) == 1105
    assert vision.openai_image_tokens((100, 100)) == 255
    # Anthropic's: width × height / 750 (1000×1000 → ~1334)
    assert vision.anthropic_image_tokens((1000, 1000)) == 1334


def test_tokens_count_images_for_a_model_that_sees(
    openai_server: SSEServer, tmp_path: Path
) -> None:
    p = tmp_path / "wide.png"
    p.write_bytes(png(1024, 1024))
    assert vision.image_size(str(p)) == (1024, 1024)
    message = Message("tool", "done", tool_call_id="c", images=(str(p),))
    seeing = openai_model(openai_server, vision_on=True)
    blind = openai_model(openai_server, vision_on=False)
    counter = image_counter(seeing)
    assert counter is not None and image_counter(blind) is None
    assert message_tokens(message, image_tokens=counter) == message_tokens(message) + 765
    unknown = tmp_path / "x.jpg"
    unknown.write_bytes(b"not really a jpeg")
    assert seeing.image_tokens(str(unknown)) == vision.UNKNOWN_TOKENS


# --- storage, resume, export -----------------------------------------------------------------


def test_a_conversation_with_images_reloads_and_exports(
    openai_server: SSEServer, settings: Settings, fake_pool: KernelPool
) -> None:
    openai_server.queue(tool_reply([("call_a", call())]), text_reply("A rising line."))
    model = openai_model(openai_server, vision_on=True)
    with run_plot(settings, fake_pool, model, Output("display", PLOT, mime="image/png")) as s:
        conv = s.conversation_id
        images = next(m for m in s.messages if m.role == "tool").images
    assert len(images) == 1 and Path(images[0]).is_file()
    with Store(settings.db_path) as store:
        reloaded = store.messages(conv)
        record = store.get_conversation(conv)
    assert next(m for m in reloaded if m.role == "tool").images == images
    assert Message.from_dict(reloaded[-2].to_dict()) == reloaded[-2]
    assert "loci_outputs" in export_markdown(record)
    assert json.loads(export_ipynb(record))["cells"]
    # resumed, the model that sees is shown the stored plot again
    openai_server.queue(text_reply("Still a line."))
    resumed = openai_model(openai_server, vision_on=True)
    with Session(
        settings, model=resumed, kernels=fake_pool, approver=auto_approve, conversation_id=conv
    ) as again:
        list(again.run("and now?"))
    assert image_urls(openai_server.requests[-1]) == ["data:image/png;base64," + PLOT]


# --- which models see ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "extra", "expected"),
    [
        ("openai:gpt-4o", {}, True),
        ("openai:gpt-3.5-turbo", {}, False),
        ("openai:o3-mini", {}, False),
        ("openai:gpt-4o", {"vision": "off"}, False),
        ("openai:llava", {"api_base": "http://127.0.0.1:1/v1"}, False),
        ("openai:llava", {"api_base": "http://127.0.0.1:1/v1", "vision": "ON"}, True),
        ("anthropic:claude-sonnet-4-5", {}, True),
    ],
)
def test_the_vision_setting(spec: str, extra: dict[str, str], expected: bool) -> None:
    from loci.config import load_settings

    settings = load_settings(
        {"model": spec, "api_key": "sk-test", "anthropic_api_key": "sk-ant", **extra}
    )
    model = get_model(settings)
    try:
        assert getattr(model, "vision", None) is expected
    finally:
        model.close()  # type: ignore[attr-defined]


def test_a_bad_vision_value_is_refused() -> None:
    from loci.config import load_settings

    settings = load_settings({"model": "openai:gpt-4o", "api_key": "k", "vision": "maybe"})
    with pytest.raises(ConfigError, match="vision must be"):
        get_model(settings)


def test_openai_text_mode_flattens_results_with_their_images(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    p.write_bytes(png())
    sent = to_openai_messages(
        [Message("user", "go"), Message("tool", "drew", tool_call_id="c", images=(str(p),))],
        tools=False,
        vision=True,
    )
    assert sent[-1]["role"] == "user"
    assert [part["type"] for part in sent[-1]["content"]] == ["text", "image_url"]
