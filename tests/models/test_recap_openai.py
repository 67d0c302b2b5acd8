"""The compaction summary an API model writes (loci.recap) goes through the real adapter and
wire protocol, as a request of its own."""

from __future__ import annotations

from fake_openai_server import SSEServer, text_reply

from loci.approval import auto_approve
from loci.compaction import compact_now
from loci.config import Settings
from loci.context import input_budget
from loci.kernels.pool import KernelPool
from loci.models.openai_compat import OpenAIModel
from loci.session import Session


def test_an_openai_server_writes_the_compaction_summary(
    openai_server: SSEServer, settings: Settings, fake_pool: KernelPool
) -> None:
    model = openai_server.own(
        OpenAIModel("test-model", api_base=openai_server.url + "/v1", api_key=None,
                    tools=False, context_window=64_000, name="openai:test-model", max_retries=0,
                    timeout=10)
    )  # fmt: skip
    openai_server.queue(
        text_reply("I need the file first."),
        text_reply("Saved it."),
        text_reply("Goal: the mean of data.csv, 4.5; saved as mean.txt.", usage=(300, 20)),
        text_reply("It was four and a half."),
    )
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        list(s.run("what is the mean of data.csv?"))
        list(s.run("save it to mean.txt"))
        past = s.past()
        assert past is not None
        made = compact_now(past, s.messages, input_budget(model.context_window))
        notices = [n.message for n in s.compacted(past)]
        list(s.run("remind me of the mean"))
    assert made is not None and made.method == "model"
    asked = openai_server.requests[2].json["messages"]
    assert asked[0]["role"] == "system" and "summarise" in asked[0]["content"]
    assert "what is the mean of data.csv?" in asked[1]["content"]
    sent = openai_server.requests[3].json["messages"]
    assert "\nGoal: the mean of data.csv, 4.5; saved as mean.txt.\n" in sent[1]["content"]
    assert sent[-1] == {"role": "user", "content": "remind me of the mean"}
    assert notices == [
        "compacted the first 1 request into a summary the model wrote "
        f"({len(made.text):,} characters) to fit the window; the full history stays stored"
    ]
