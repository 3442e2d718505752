"""Rehearse: pick a scenario, talk with the simulated partner, read the coach's note on each reply, end for a summary."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from companion.errors import CompanionError
from companion.logs import get_logger
from companion.tui.screens.base import STYLES, CompanionScreen, read_field

log = get_logger("tui.rehearse")


def coach_text(result, turn_number: int) -> Text:
    """The coach's note on one reply: what kind of move it was, the flags, and one tip."""
    text = Text()
    text.append(f"Reply {turn_number}: ", style="bold")
    label = str(read_field(result, "label", "") or "")
    subtype = read_field(result, "subtype")
    text.append(f"{subtype} {label}" if subtype else label)
    flags = list(read_field(result, "flags", ()) or ())
    good = {"i_statement", "validation", "appreciation", "repair"}
    for flag in flags:
        name = str(flag).replace("_", "-")
        text.append(f"  [{name}]", style="green" if flag in good else "red")
    tip = read_field(result, "tip")
    if tip:
        text.append("\n")
        text.append(str(tip), style="italic")
    section = read_field(result, "tip_section")
    heading = read_field(section, "heading", section if isinstance(section, str) else None)
    if heading:
        text.append(f"\n(from: {heading})", style="dim")
    return text


REPLY_PLACEHOLDER = "Your reply, as you would say it out loud (ctrl+j sends)"

SCRIPTED_PARTNER_NOTE = (
    "The partner's lines are scripted (the listener is tuned to reflect, not to act); "
    "a larger chat model, chosen on the Models screen (F6), speaks in character."
)


class RehearseScreen(CompanionScreen):
    MODE = "rehearse"
    CSS_PATH = STYLES / "rehearse.tcss"
    BINDINGS = [
        Binding("ctrl+j", "send", "Send", priority=True, tooltip="send your reply to the partner"),
        Binding(
            "ctrl+e", "end", "End & summary", priority=True, tooltip="end the rehearsal and see how it went"
        ),
        Binding(
            "ctrl+n", "new", "New scenario", priority=True, tooltip="pick another conversation to practise"
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.scenarios: list = []
        self.rehearsal = None
        self.scenario = None
        self.turns = 0
        self.busy = False
        self.coaching: list = []

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="rehearse-main"):
            with Vertical(id="rehearse-left"):
                yield Label("Pick a conversation to practise (enter):", id="scenario-label")
                yield OptionList(id="scenarios")
                yield VerticalScroll(id="conversation")
                yield TextArea(
                    id="reply", soft_wrap=True, tab_behavior="focus", placeholder=REPLY_PLACEHOLDER
                )
            with Vertical(id="coach-panel"):
                yield Label("Coach", id="coach-label")
                with VerticalScroll(id="coach-scroll"):
                    yield Static(
                        Text(
                            "After each of your replies, the coach says what you did and one thing to try.",
                            style="dim",
                        ),
                        id="coach-text",
                    )

    def on_mount(self) -> None:
        self._show_picker(True)
        self.load_scenario_list()

    def main_input(self):
        if self.query_one("#scenarios").display:
            return self.query_one("#scenarios")
        reply = self.query_one("#reply")
        return reply if reply.display else None

    def _show_picker(self, picking: bool) -> None:
        self.query_one("#scenario-label").display = picking
        self.query_one("#scenarios").display = picking
        self.query_one("#conversation").display = not picking
        self.query_one("#reply").display = not picking
        (self.query_one("#scenarios") if picking else self.query_one("#reply")).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("send", "end"):
            return True if self.rehearsal is not None else None
        return True

    # ---- picking a scenario ------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="scenarios", name="load scenarios")
    def load_scenario_list(self) -> None:
        from companion.rehearse.scenarios import default_scenario_dirs, load_scenarios

        scenarios, errors = load_scenarios(default_scenario_dirs(self.app.settings))
        self.app.call_from_thread(self._show_scenarios, scenarios, errors)

    def _show_scenarios(self, scenarios, errors) -> None:
        self.scenarios = list(scenarios)
        options = self.query_one("#scenarios", OptionList)
        options.clear_options()
        for scenario in self.scenarios:
            label = Text(str(read_field(scenario, "title", "")), style="bold")
            description = read_field(scenario, "description")
            if description:
                label.append("\n")
                label.append(str(description), style="dim")
            options.add_option(Option(label, id=f"scenario-{read_field(scenario, 'id')}"))
        if self.scenarios:
            options.highlighted = 0
        for error in errors:
            self.notify(str(error), title="A scenario could not be loaded", severity="warning", markup=False)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "scenarios":
            self.start(self.scenarios[event.option_index])

    def start(self, scenario) -> None:
        self.scenario = scenario
        self.rehearsal = None
        self.turns = 0
        self.coaching = []
        self.query_one("#conversation", VerticalScroll).remove_children()
        self.query_one("#coach-text", Static).update(
            Text("The coach will comment on your first reply.", style="dim")
        )
        self._show_picker(False)
        self._add_line(
            "scene", str(read_field(scenario, "description", "") or read_field(scenario, "title", ""))
        )
        self.busy = True
        self.begin_rehearsal(scenario)

    @work(thread=True, exclusive=True, group="rehearse", name="begin rehearsal")
    def begin_rehearsal(self, scenario) -> None:
        try:
            rehearsal = self.app.rehearsal(scenario)
            opening = rehearsal.opening()
        except CompanionError as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._begun, scenario, rehearsal, opening)

    def _begun(self, scenario, rehearsal, opening) -> None:
        if scenario is not self.scenario:
            return  # another scenario was picked meanwhile
        self.rehearsal = rehearsal
        self.busy = False
        if getattr(rehearsal, "chat_model", None) is None:
            self._add_line("scene", SCRIPTED_PARTNER_NOTE)
        self._add_line("partner", str(read_field(opening, "partner", opening)))
        self.refresh_bindings()

    def _failed(self, error: CompanionError) -> None:
        self.busy = False
        self.notify(str(error), severity="error", markup=False, timeout=8)

    # ---- talking --------------------------------------------------------------------------------------
    def _add_line(self, who: str, words: str) -> None:
        names = {"partner": read_field(self.scenario, "partner_name", "Partner") or "Partner", "you": "You"}
        line = Text()
        if who in names:
            line.append(f"{names[who]}: ", style="bold")
            line.append(words)
        else:
            line.append(words, style="dim italic")
        conversation = self.query_one("#conversation", VerticalScroll)
        conversation.mount(Static(line, classes=f"turn turn-{who}"))
        conversation.scroll_end(animate=False)

    def action_send(self) -> None:
        if self.rehearsal is None:
            return
        if self.busy:
            self.notify("Your partner is still answering.")
            return
        # As on Reflect: the keys typed just before ctrl+j go in first, then the reply is read.
        self.query_one("#reply", TextArea).call_later(self._send_typed)

    def _send_typed(self) -> None:
        if self.rehearsal is None or self.busy:
            return
        area = self.query_one("#reply", TextArea)
        text = area.text
        if not text.strip():
            self.notify("Type your reply first.")
            return
        area.clear()
        self.busy = True
        self._add_line("you", text)
        self.send_reply(self.rehearsal, text)

    @work(thread=True, exclusive=True, group="rehearse", name="rehearsal reply")
    def send_reply(self, rehearsal, text: str) -> None:
        try:
            turn = rehearsal.reply(text)
        except CompanionError as exc:
            self.app.call_from_thread(self._reply_failed, rehearsal, text, exc)
            return
        self.app.call_from_thread(self._replied, rehearsal, turn)

    def _reply_failed(self, rehearsal, text: str, error: CompanionError) -> None:
        if rehearsal is not self.rehearsal:
            return
        self.busy = False
        area = self.query_one("#reply", TextArea)
        if not area.text.strip():
            area.text = text  # give the person their words back
        self.notify(str(error), severity="error", markup=False, timeout=8)

    def _replied(self, rehearsal, turn) -> None:
        if rehearsal is not self.rehearsal:
            return
        self.busy = False
        self.turns += 1
        self._add_line("partner", str(read_field(turn, "partner_reply", "")))
        notice = read_field(turn, "notice")
        if notice:
            self._add_line("scene", str(notice))
        coaching = read_field(turn, "coaching")
        if coaching is not None:
            self.coaching.append(coaching)
            panel = self.query_one("#coach-text", Static)
            notes = Text()
            # Newest first: the note on the reply just sent is where the eye lands.
            for number in range(len(self.coaching), 0, -1):
                notes.append_text(coach_text(self.coaching[number - 1], number))
                notes.append("\n\n")
            panel.update(notes)

    def action_end(self) -> None:
        if self.rehearsal is None or self.busy:
            return
        self.busy = True
        self.finish_rehearsal(self.rehearsal)

    @work(thread=True, exclusive=True, group="rehearse", name="finish rehearsal")
    def finish_rehearsal(self, rehearsal) -> None:
        try:
            summary = rehearsal.finish()
        except CompanionError as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._finished, rehearsal, summary)

    def _finished(self, rehearsal, summary) -> None:
        if rehearsal is not self.rehearsal:
            return
        self.busy = False
        self.rehearsal = None
        self.summary = summary
        conversation = self.query_one("#conversation", VerticalScroll)
        conversation.mount(Static(Text(summary.as_text()), classes="summary"))  # as the CLI prints it
        # Said under the summary, not in a toast: a toast would sit over the summary it announces.
        saved = "Saved to your journal (F5)." if getattr(rehearsal, "session_id", None) is not None else ""
        conversation.mount(
            Static(Text(f"{saved} Ctrl+N starts another.".strip(), style="dim"), classes="summary-note")
        )
        conversation.scroll_end(animate=False)
        self.query_one("#reply").display = False
        self.refresh_bindings()

    def action_new(self) -> None:
        if self.rehearsal is not None and self.turns:
            self.notify("This rehearsal ended without a summary; what you said is already in the journal.")
        self.rehearsal = None
        self.scenario = None
        self._show_picker(True)
        self.refresh_bindings()

    def palette_commands(self):
        return [
            ("Send reply", "Send your reply to the partner (ctrl+j)", self.action_send),
            ("End rehearsal", "End and see the summary (ctrl+e)", self.action_end),
            ("New rehearsal", "Pick another scenario (ctrl+n)", self.action_new),
        ]
