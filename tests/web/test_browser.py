"""End to end in a real headless Chromium (Debian's chromium, driven by Playwright).

Skipped only when /usr/bin/chromium is absent. ``LOCI_TEST_SCREENSHOT=FILE`` saves a picture
of the UI after the plot was drawn.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_helpers import TOKEN, ServerFactory

from loci.messages import ToolCall

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
PLOT = (
    "import matplotlib.pyplot as plt\n"
    "plt.plot([1, 4, 2, 8])\n"
    "plt.title('demo')\n"
    "plt.show()\n"
    "print('plotted')"
)
XSS_TEXT = 'Look: <script>window.__xss = 1</script> <img src=x onerror="window.__xss = 2">'


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # bypass_csp: the output escaping must hold on its own, without the CSP's help (and
    # Playwright's wait_for_function needs eval)
    context = browser.new_context(
        accept_downloads=True, bypass_csp=True, viewport={"width": 1280, "height": 860}
    )
    p = context.new_page()
    p.set_default_timeout(30_000)
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    # the sandbox refusing to run an output's script is the expected, logged outcome
    p.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and "frame is sandboxed" not in m.text
            else None
        ),
    )
    try:
        yield p
    finally:
        context.close()
    assert not errors, errors


def _send(page: Any, text: str) -> None:
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")


def _turns_done(page: Any, n: int) -> None:
    page.wait_for_function(f"document.querySelectorAll('.turn-end').length >= {n}")


def _release(page: Any, held: list[Any]) -> None:
    """Let the request a ``page.route`` handler held go on, once it has been made."""
    while not held:
        page.wait_for_timeout(20)
    held[0].continue_()


def test_chat_plot_upload_download_stop_reload(
    start_server: ServerFactory, page: Any, tmp_path: Path
) -> None:
    srv = start_server()
    model = srv.model
    model.enqueue("Here is a **plot**.", [ToolCall("c1", "python", PLOT)])
    model.enqueue("Plotted `demo`.")
    page.goto(f"{srv.url}/?token={TOKEN}")
    page.wait_for_function("!location.href.includes('token')")  # out of the address bar
    _send(page, "plot something")
    page.click(".card .actions .run")
    page.wait_for_selector(".outputs img[src^='data:image/png;base64,']")
    _turns_done(page, 1)
    assert "plotted" in page.inner_text(".outputs")
    assert page.inner_text(".assistant strong") == "plot"
    shot = os.environ.get("LOCI_TEST_SCREENSHOT")
    if shot:
        page.screenshot(path=shot, full_page=True)

    # upload a file, have the code use it and write another; download that one
    data = tmp_path / "numbers.txt"
    data.write_text("3 5 7\n")
    code = (
        "nums = [int(x) for x in open('numbers.txt').read().split()]\n"
        "_ = open('total.txt', 'w').write(str(sum(nums)))\nprint('sum', sum(nums))"
    )
    model.enqueue("", [ToolCall("c2", "python", code)])
    model.enqueue("The sum is 15; the mean is 5.5.")  # 5.5 was never printed
    page.set_input_files("#upload", str(data))
    page.wait_for_selector("#filelist a:text('numbers.txt')")
    _send(page, "add them up")
    page.click(".card:last-of-type .actions .run")
    _turns_done(page, 2)
    assert "sum 15" in page.inner_text("#log")
    assert "not found in any output of this turn: 5.5" in page.inner_text("#log")
    page.wait_for_selector("#filelist a:text('total.txt')")
    with page.expect_download() as info:
        page.click("#filelist a:text('total.txt')")
    assert Path(info.value.path()).read_text() == "15"

    # stop a long run
    model.enqueue(
        "", [ToolCall("c3", "python", "import time\nprint('tick', flush=True)\ntime.sleep(60)")]
    )
    _send(page, "wait a minute")
    page.click(".card:last-of-type .actions .run")
    page.wait_for_function("document.querySelector('#log').innerText.includes('tick')")
    page.click("#stop")
    _turns_done(page, 3)
    assert "interrupted" in page.inner_text(".turn-end:last-of-type")

    # reload: the conversation is listed and shown again, plot included
    page.reload()
    page.wait_for_selector("#conversations li.current:text('plot something')")
    page.wait_for_selector(".outputs img[src^='data:image/png;base64,']")
    assert "sum 15" in page.inner_text("#log")
    assert "not found in any output of this turn: 5.5" in page.inner_text("#log")


def test_a_reload_shows_the_persons_words_not_locis_notes(
    start_server: ServerFactory, page: Any
) -> None:
    from loci.coaching import VERIFY_NOTE

    srv = start_server()
    srv.model.enqueue("The answer is 4.")  # from memory: loci sends it back for code
    srv.model.enqueue("", [ToolCall("c1", "python", "print(12 // 3)")])
    srv.model.enqueue("It is 4.")
    page.goto(f"{srv.url}/?token={TOKEN}")
    page.check("#auto")
    _send(page, "Split 12 apples among 3 people. How many each?")
    _turns_done(page, 1)
    page.reload()
    page.wait_for_function("document.querySelector('#log').innerText.includes('It is 4.')")
    assert page.locator("#log .user").all_inner_texts() == [
        "Split 12 apples among 3 people. How many each?"
    ]
    assert VERIFY_NOTE not in page.inner_text("#log")


def test_serve_y_makes_the_first_conversation_auto_run(
    start_server: ServerFactory, page: Any, web_settings: Any
) -> None:
    from dataclasses import replace

    srv = start_server(settings=replace(web_settings, auto_run=True))  # `loci serve -y`
    srv.model.enqueue("", [ToolCall("c1", "python", "print(6 * 7)")])
    srv.model.enqueue("It is 42.")
    page.goto(f"{srv.url}/?token={TOKEN}")
    page.wait_for_function("document.querySelector('#auto').checked")
    _send(page, "what is 6 times 7?")  # no click on Run: the block runs by itself
    _turns_done(page, 1)
    assert "42" in page.inner_text(".outputs")
    with srv.client() as c:
        assert c.get("/api/defaults").json()["auto_run"] is True


def test_effort_shows_the_kept_answer_and_dims_the_attempts_set_aside(
    start_server: ServerFactory, page: Any, web_settings: Any
) -> None:
    from dataclasses import replace

    srv = start_server(settings=replace(web_settings, auto_run=True, effort=3))
    for n, (expr, answer) in enumerate(
        [("6 * 7 - 1", "It is 41."), ("6 * 7", "It is 42."), ("7 * 6", "Six sevens: 42.")]
    ):
        srv.model.enqueue("", [ToolCall(f"c{n}", "python", f"print({expr})")])
        srv.model.enqueue(answer)
    page.goto(f"{srv.url}/?token={TOKEN}")
    page.wait_for_function("document.querySelector('#auto').checked")
    _send(page, "what is 6 times 7?")
    _turns_done(page, 1)
    assert "2 of 3 attempts agree: kept the answer of attempt 2" in page.inner_text("#log")
    assert page.inner_text("#log .assistant.kept") == "It is 42."
    page.reload()
    page.wait_for_function("document.querySelectorAll('#log .assistant').length >= 3")

    def said(selector: str) -> list[str]:  # a reply that was only code shows as its card
        return [t for t in page.locator(selector).all_inner_texts() if t.strip()]

    assert said("#log .assistant.set-aside") == ["It is 41.", "Six sevens: 42."]
    assert said("#log .assistant:not(.set-aside)") == ["It is 42."]


def test_model_and_program_output_are_shown_as_text(start_server: ServerFactory, page: Any) -> None:
    srv = start_server()
    html = "from IPython.display import HTML, display\n" + (
        "display(HTML('<b>bold</b><img src=x onerror=\"parent.__xss = 3\">'))\n"
        "display(HTML('<table><tr><th>a</th></tr><tr><td><script>1</script>7</td></tr></table>'))\n"
        f"print({XSS_TEXT!r})"
    )
    srv.model.enqueue(XSS_TEXT, [ToolCall("c1", "python", html)])
    srv.model.enqueue(XSS_TEXT + "\n\n```html\n<script>window.__xss = 4</script>\n```")
    page.goto(f"{srv.url}/?token={TOKEN}")
    page.check("#auto")
    _send(page, '<img src=x onerror="window.__xss = 5">')
    _turns_done(page, 1)
    page.wait_for_timeout(300)  # give any injected handler a chance to fire
    assert page.evaluate("window.__xss") is None
    text = page.inner_text("#log")
    assert "<script>window.__xss = 1</script>" in text
    assert '<img src=x onerror="window.__xss = 5">' in text
    assert page.locator("#log script").count() == 0
    assert page.locator("#log img:not([src^='data:'])").count() == 0
    frame = page.locator(".outputs iframe")
    assert frame.get_attribute("sandbox") == ""
    # an HTML table becomes a plain table of cell texts
    assert page.locator("table.data th").all_inner_texts() == ["a"]
    assert page.locator("table.data td").all_inner_texts() == ["17"]


def test_each_user_sees_only_their_own_conversations(
    start_server: ServerFactory, page: Any, web_settings: Any
) -> None:
    from loci.store import Store
    from loci.store.users import Users

    users = Users(Store(web_settings.db_path))
    ana, bob = users.add("ana"), users.add("bob")
    srv = start_server(real_kernels=False, users=users)
    srv.model.enqueue("Hello Ana.")
    srv.model.enqueue("Hello Bob.")
    page.goto(f"{srv.url}/?token={ana}")
    _send(page, "ana's secret plan")
    _turns_done(page, 1)
    page.wait_for_selector("#conversations li:has-text('secret plan')")
    page.goto(f"{srv.url}/?token={bob}")  # another person, another token
    _send(page, "bob's question")
    _turns_done(page, 1)
    page.wait_for_selector("#conversations li:has-text('question')")
    assert "ana's secret plan" not in page.inner_text("#side")
    assert "ana's secret plan" not in page.inner_text("#log")


def test_a_message_typed_while_the_page_loads_is_sent(
    start_server: ServerFactory, page: Any
) -> None:
    srv = start_server(real_kernels=False)
    srv.model.enqueue("Got it.")
    held: list[Any] = []
    # the page is still loading while /api/models is held
    page.route("**/api/models", lambda route: held.append(route))
    page.goto(f"{srv.url}/?token={TOKEN}")
    _send(page, "typed early")
    page.press("#prompt", "Enter")  # impatient: a second Enter must not send it twice
    _release(page, held)
    _turns_done(page, 1)
    assert "typed early" in page.inner_text("#log")
    assert "Got it." in page.inner_text("#log")
    assert page.locator("#log .user").count() == 1
    page.wait_for_selector("#conversations li")
    assert page.locator("#conversations li").count() == 1


def test_choices_made_while_the_page_loads_are_kept(start_server: ServerFactory, page: Any) -> None:
    srv = start_server(real_kernels=False)
    srv.model.enqueue("", [ToolCall("c1", "python", "print(6 * 7)")])
    srv.model.enqueue("It is 42.")
    held: list[Any] = []
    page.route("**/api/defaults", lambda route: held.append(route))
    page.goto(f"{srv.url}/?token={TOKEN}")
    page.check("#auto")  # ticked before the server's defaults (auto-run off) arrive
    _release(page, held)
    page.wait_for_function("document.querySelectorAll('#models option').length > 0")
    assert page.is_checked("#auto")
    _send(page, "what is 6 times 7?")  # no click on Run: the user's tick holds
    _turns_done(page, 1)
    assert "It is 42." in page.inner_text("#log")


def test_the_kernel_panel_lists_what_the_kernel_holds(
    start_server: ServerFactory, page: Any
) -> None:
    srv = start_server()
    code = "import pandas as pd\nsales = pd.DataFrame({'units': [3, 4], 'price': [1.5, 2.0]})"
    srv.model.enqueue("", [ToolCall("c1", "python", code)])
    srv.model.enqueue("Made `sales`.")
    page.goto(f"{srv.url}/?token={TOKEN}")
    page.wait_for_selector("#kernel .empty")  # nothing has run yet
    page.check("#auto")
    _send(page, "make a small sales table")
    _turns_done(page, 1)
    page.wait_for_selector("#kernel li.changed")
    assert page.locator("#kernel li").all_inner_texts() == [
        "sales: DataFrame 2×2 (units:int64, price:float64)"
    ]
    assert "Imported: pandas as pd" in page.inner_text("#kernel")
    page.reload()  # the panel comes back with the conversation
    page.wait_for_selector("#kernel li")
    assert "sales: DataFrame 2×2" in page.inner_text("#kernel")


def test_a_late_answer_never_overwrites_a_newer_list(
    start_server: ServerFactory, page: Any
) -> None:
    srv = start_server(real_kernels=False)
    srv.model.enqueue("Hello.")
    gets: list[Any] = []

    def hold_second(route: Any) -> None:
        if route.request.method == "GET":
            gets.append(route)
            if len(gets) == 2:  # the list asked for as the conversation opened: answered later
                return
        route.continue_()

    page.route("**/api/conversations", hold_second)
    page.goto(f"{srv.url}/?token={TOKEN}")
    _send(page, "a question with a title")
    _turns_done(page, 1)  # the turn's own refresh lists the conversation ...
    page.wait_for_selector("#conversations li:has-text('a question with a title')")
    # ... and an answer from before it existed, arriving last, must not replace that
    gets[1].fulfill(status=200, content_type="application/json", body="[]")
    page.wait_for_timeout(500)
    assert page.locator("#conversations li").all_inner_texts() == ["a question with a title"]


def test_a_wrong_token_asks_for_another(start_server: ServerFactory, browser: Any) -> None:
    srv = start_server(real_kernels=False)
    context = browser.new_context(bypass_csp=True)  # not `page`: this 401 is expected
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{srv.url}/?token=not-the-token")
        page.wait_for_selector("#tokenbox", state="visible")
        page.fill("#tokeninput", TOKEN)
        with page.expect_navigation():  # the page reloads with the token
            page.press("#tokeninput", "Enter")
        page.wait_for_selector("#tokenbox", state="hidden")
        srv.model.enqueue("Welcome.")
        _send(page, "hello")
        _turns_done(page, 1)
        assert "Welcome." in page.inner_text("#log")
    finally:
        context.close()


def test_edit_an_earlier_request_goes_on_in_a_branch(
    start_server: ServerFactory, page: Any
) -> None:
    from loci.prompts import RESUMED_NOTE

    srv = start_server(real_kernels=False)
    for reply in ("First answer.", "Second answer.", "Edited answer."):
        srv.model.enqueue(reply)
    page.goto(f"{srv.url}/?token={TOKEN}")
    _send(page, "first request")
    _turns_done(page, 1)
    _send(page, "second request")
    _turns_done(page, 2)
    parent = page.evaluate("location.hash")
    page.locator("button.edit-request").nth(1).click()
    assert page.input_value("textarea.edit-request") == "second request"
    page.fill("textarea.edit-request", "second request, edited")
    page.click(".edit-bar .branch")
    page.wait_for_function(f"location.hash !== {parent!r}")
    # (the turn may be over before the page opens the branch: then it comes from the store)
    page.wait_for_function("document.querySelector('#log').innerText.includes('Edited answer.')")
    assert page.locator("#log .user").all_inner_texts() == [
        "first request",
        "second request, edited",
    ]
    assert "Second answer." not in page.inner_text("#log")
    assert "a branch of conversation" in page.inner_text("#log")
    page.wait_for_selector("#conversations li.current:text('↳ first request')")
    assert page.locator("#conversations li").count() == 2
    sent = [m.content for m in srv.model.calls[-1]][1:]
    assert sent == ["first request", "First answer.", RESUMED_NOTE, "second request, edited"]
    # the old branch is still there, as it was
    page.click("#conversations li:not(.current)")
    page.wait_for_function("document.querySelector('#log').innerText.includes('Second answer.')")


def test_input_box_under_the_running_block_sends_the_answer(
    start_server: ServerFactory, page: Any
) -> None:
    srv = start_server()
    code = (
        "import getpass\nn = input('name? ')\np = getpass.getpass('pw: ')\nprint('hi', n, len(p))"
    )
    srv.model.enqueue("", [ToolCall("c1", "python", code)])
    srv.model.enqueue("Greeted.")
    page.goto(f"{srv.url}/?token={TOKEN}")
    page.check("#auto")
    _send(page, "greet me")
    page.wait_for_selector(".card form.stdin input[type=text]")
    assert page.inner_text(".card form.stdin .prompt") == "name? "
    page.fill(".card form.stdin input", "Ada")
    page.press(".card form.stdin input", "Enter")
    page.wait_for_selector(".card form.stdin input[type=password]")  # hidden as it is typed
    page.fill(".card form.stdin input", "hunter2")
    page.press(".card form.stdin input", "Enter")
    _turns_done(page, 1)
    assert page.locator(".card form.stdin").count() == 0
    outputs = page.inner_text(".outputs")
    assert "name? Ada" in outputs and "pw: ••••" in outputs and "hi Ada 7" in outputs
    assert "hunter2" not in page.inner_text("#log")
