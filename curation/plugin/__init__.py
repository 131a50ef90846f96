"""The FiftyOne App's curation actions (thin operators over ``curation.actions`` and ``curation.mappings``), the
Label check panel and the Model Evaluation panel.

Accept, Reject, Move to class, Mark ambiguous and Undo curate labelled samples; Accept suggestion
and Not this class review ``evaluation.suggest``'s suggestions on unlabelled ones (the saved view
"suggestions to review"); Confirm label gives back a class ``evaluation.verify`` rejected (the saved
view "label check").

Each acts on the selected samples or, with none selected, on the whole current view
(the form says how many), logs the action, and reloads the App. Accept mapping and Reject mapping
decide whole mappings (``curation.mappings``): those of the selected samples or, with none selected,
the one mapping of the current view; one logged record per mapping. The Label check panel lists the
undecided mappings of the saved view "label check", the least supported first: "Show" puts one
mapping's undecided drawings in the grid, "Accept" and "Reject" decide it. FiftyOne finds this
plugin beside the user's own plugins: ``curation.database.plugins_folder`` says how.
"""
import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.panel import Panel, PanelConfig

from curation import actions, mappings
from curation.curators import curator
from curation.log import CurationLog
from curation.state import KEY
from datasets.rules import MappingKey


def _targets(ctx) -> list:
    view = ctx.dataset.select(ctx.selected) if ctx.selected else ctx.view
    return view.values(KEY)


def _log(ctx) -> CurationLog:
    """The dataset's log, acting as the App's logged-in user (FiftyOne Teams), else as this App server process."""
    user = getattr(ctx, "user", None)
    name = next((str(v) for v in (getattr(user, a, None) for a in ("email", "name", "id")) if v), None)
    return CurationLog(ctx.dataset, curator=curator(name))


def _describe(ctx, inputs, verb: str) -> None:
    # the App does not always send the selection with the form, so the text covers both cases
    inputs.view("what", types.Notice(label=f"{verb}: the selected samples or, with none selected, all "
                                           f"{len(ctx.view)} samples in the current view"))


class _Named(foo.Operator):
    """An operator labelled "Curation: <verb>" with its icon."""
    op_name = verb = icon = ""

    @property
    def config(self):
        return foo.OperatorConfig(name=self.op_name, label=f"Curation: {self.verb}", dynamic=True,
                                  light_icon=self.icon, dark_icon=self.icon)


class _Curate(_Named):
    action = ""

    def resolve_placement(self, ctx):
        return types.Placement(types.Places.SAMPLES_GRID_SECONDARY_ACTIONS,
                               types.Button(label=self.verb, icon=self.icon, prompt=True))

    def resolve_input(self, ctx):
        inputs = types.Object()
        _describe(ctx, inputs, self.verb)
        return types.Property(inputs, view=types.View(label=f"Curation: {self.verb}"))

    def execute(self, ctx):
        records = self.apply(ctx.dataset, _targets(ctx), ctx.params, _log(ctx))
        ctx.ops.clear_selected_samples()  # a moved sample may have left the view
        ctx.ops.reload_dataset()
        return {"action": records[0]["action"], "samples": sum(len(r["image_ids"]) for r in records),
                "record": records[-1]["id"], **({"records": [r["id"] for r in records]} if len(records) > 1 else {})}

    def apply(self, dataset, image_ids: list, params: dict, log: CurationLog) -> list[dict]:
        """The action on the samples; its log records."""
        return [actions.curate(dataset, self.action, image_ids, to=params.get("wnid"), log=log)]


class Accept(_Curate):
    op_name, action, verb, icon = "accept", "accept", "Accept", "check_circle"


class Reject(_Curate):
    op_name, action, verb, icon = "reject", "reject", "Reject", "block"


class MarkAmbiguous(_Curate):
    op_name, action, verb, icon = "mark_ambiguous", "ambiguous", "Mark ambiguous", "help"


class MoveToClass(_Curate):
    op_name, action, verb, icon = "move_to_class", "move", "Move to class", "drive_file_move"

    def resolve_input(self, ctx):
        from curation.state import class_label
        from datasets.vocabulary import load_vocabulary

        inputs = types.Object()
        _describe(ctx, inputs, self.verb)
        vocab = load_vocabulary()
        choices = types.AutocompleteView()
        for cls in vocab:
            choices.add_choice(cls.wnid, label=f"{class_label(vocab, cls.wnid)} — {cls.wnid}")
        inputs.enum("wnid", choices.values(), required=True, label="Class",
                    description="one of the 1000 ILSVRC classes (type to search)", view=choices)
        return types.Property(inputs, view=types.View(label="Curation: move to class"))


class AcceptSuggestion(_Curate):
    """The suggested class (evaluation.suggest) becomes the sample's: a logged move per class."""
    op_name, verb, icon = "accept_suggestion", "Accept suggestion", "task_alt"

    def apply(self, dataset, image_ids: list, params: dict, log: CurationLog) -> list[dict]:
        return actions.accept_suggestions(dataset, image_ids, log=log)


class RefuseSuggestion(_Curate):
    """"Not this class": the sample stays unlabelled and its suggestion is never proposed again."""
    op_name, verb, icon = "refuse_suggestion", "Not this class", "do_not_disturb_on"

    def apply(self, dataset, image_ids: list, params: dict, log: CurationLog) -> list[dict]:
        return [actions.refuse_suggestions(dataset, image_ids, log=log)]


class ConfirmLabel(_Curate):
    """The curator overrules evaluation.verify: the sample gets back the class it rejected (a logged move)."""
    op_name, verb, icon = "confirm_label", "Confirm label", "verified"

    def apply(self, dataset, image_ids: list, params: dict, log: CurationLog) -> list[dict]:
        return actions.confirm_rejected(dataset, image_ids, log=log)


class Undo(foo.Operator):
    """Undo this curator's last action (this App's user, or this App server when no one is logged in); with
    "any curator", the last action of anyone. Refused, changing nothing, when someone changed its samples since."""

    @property
    def config(self):
        return foo.OperatorConfig(name="undo", label="Curation: undo my last action", light_icon="undo",
                                  dark_icon="undo", dynamic=True)

    def resolve_placement(self, ctx):
        return types.Placement(types.Places.SAMPLES_GRID_SECONDARY_ACTIONS,
                               types.Button(label="Undo curation", icon="undo", prompt=True))

    def resolve_input(self, ctx):
        inputs = types.Object()
        inputs.view("what", types.Notice(label="Undo your own last curation action (this App's, when no one is "
                                               "logged in), unless someone changed its samples since"))
        inputs.bool("any", default=False, label="any curator",
                    description="undo the last action of anyone, not only yours", view=types.CheckboxView())
        return types.Property(inputs, view=types.View(label="Curation: undo"))

    def execute(self, ctx):
        record = actions.undo(ctx.dataset, log=_log(ctx), any_curator=bool(ctx.params.get("any")))
        ctx.ops.reload_dataset()
        if record is None:
            return {"undone": None}
        return {"undone": record["undoes_action"], "samples": len(record["image_ids"]), "record": record["seq"]}


# ---------------------------------------------------------------- decisions on whole mappings

def _chosen_mappings(ctx) -> list[dict]:
    """The mappings to decide ({"key", "text"}): those of the selected samples, or the current view's only one;
    a ValueError says why there are none."""
    if ctx.selected:
        found = [m for m in ctx.dataset.select(ctx.selected).values(mappings.CHECK) if m]
        if not found:
            raise ValueError(f"none of the {len(ctx.selected)} selected samples has a mapping "
                             f"(evaluation.verify's label_check.mapping)")
        keys = {MappingKey.of(m): m for m in found}
        return [{"key": k, "text": mappings.key_text(k, m.get("label"))} for k, m in keys.items()]
    found = mappings.mapping_summaries(ctx.view)
    if len(found) != 1:
        raise ValueError(f"the current view holds {len(found)} mappings: select drawings of the mapping(s) to "
                         f"decide, or show one mapping (the Label check panel's Show, or the sidebar's mapping "
                         f"filter)")
    g = found[0]
    key = MappingKey.of(g["mapping"])
    return [{"key": key, "text": mappings.key_text(key, g["mapping"].get("label"))}]


class _DecideMapping(_Named):
    decision = ""

    def resolve_input(self, ctx):
        inputs = types.Object()
        try:
            chosen = _chosen_mappings(ctx)
            counts = [len(mappings.pending(ctx.dataset, c["key"])) for c in chosen]
            lines = [f"{c['text']}: {n} drawing{'' if n == 1 else 's'}" for c, n in zip(chosen, counts)]
            inputs.view("what", types.Notice(label=f"{self.verb} ({self.decision} as a whole, the drawings no "
                                                   f"curator has reviewed): " + "; ".join(lines)))
        except ValueError as err:  # the App does not always send the selection with the form: say, don't block
            inputs.view("what", types.Warning(label=f"{self.verb}: the mappings of the selected samples or, with "
                                                    f"none selected, of the current view; now: {err}"))
        return types.Property(inputs, view=types.View(label=f"Curation: {self.verb}"))

    def execute(self, ctx):
        log = _log(ctx)
        records = [mappings.decide_mapping(ctx.dataset, c["key"], self.decision, log=log)
                   for c in _chosen_mappings(ctx)]
        ctx.ops.clear_selected_samples()
        ctx.ops.reload_dataset()
        return {"action": "mapping", "decision": self.decision, "mappings": [r["mapping_text"] for r in records],
                "samples": sum(len(r["image_ids"]) for r in records), "records": [r["id"] for r in records]}


class AcceptMapping(_DecideMapping):
    """The mapping is right: its drawings no curator reviewed get its class (one logged record per mapping)."""
    op_name, decision, verb, icon = "accept_mapping", "accepted", "Accept mapping", "done_all"


class RejectMapping(_DecideMapping):
    """The mapping is wrong: its drawings no curator reviewed lose its class and are unlabelled."""
    op_name, decision, verb, icon = "reject_mapping", "rejected", "Reject mapping", "remove_done"


class LabelCheckPanel(Panel):
    """The undecided mappings of the saved view "label check", the least supported first."""

    @property
    def config(self):
        return PanelConfig(name="drawnet_label_check", label="Label check", icon="rule", light_icon="rule",
                           dark_icon="rule", surfaces="grid")

    def on_load(self, ctx):
        self.refresh(ctx)

    def on_change_view(self, ctx):  # "Show", a saved view picked, a decision elsewhere and the App reloaded
        self.refresh(ctx)

    def refresh(self, ctx):
        from curation.views import LABEL_CHECK, curation_views

        found = mappings.mapping_summaries(curation_views(ctx.dataset)[LABEL_CHECK])
        shared = {g["text"] for g in found if sum(h["text"] == g["text"] for h in found) > 1}  # two cranes
        rows = [{"mapping": f"{g['text']} ({g['mapping']['wnid']})" if g["text"] in shared else g["text"],
                 "drawings": g["drawings"], "rejected": g["rejected"], "unsure": g["unsure"],
                 "score": g["mapping_score"], "key": g["mapping"]} for g in found]
        ctx.panel.set_state("mappings", rows)

    def _row(self, ctx) -> dict | None:
        rows = ctx.panel.get_state("mappings") or []
        row = ctx.params.get("row")
        return rows[row] if isinstance(row, int) and 0 <= row < len(rows) else None

    def show(self, ctx):
        from curation.views import LABEL_CHECK, curation_views

        row = self._row(ctx)
        if row:
            view = curation_views(ctx.dataset)[LABEL_CHECK].match(mappings.key_filter(MappingKey.of(row["key"])))
            ctx.ops.set_view(view)

    def _decide(self, ctx, decision: str):
        row = self._row(ctx)
        if row:
            record = mappings.decide_mapping(ctx.dataset, row["key"], decision, log=_log(ctx))
            ctx.ops.notify(f"{row['mapping']}: {decision}, {len(record['image_ids'])} drawings (record "
                           f"{record['seq']}; Curation: undo takes it back)", variant="success")
            self.refresh(ctx)
            ctx.ops.reload_dataset()

    def accept(self, ctx):
        self._decide(ctx, "accepted")

    def reject(self, ctx):
        self._decide(ctx, "rejected")

    def render(self, ctx):
        rows = ctx.panel.get_state("mappings") or []
        panel = types.Object()
        panel.md(f"**{len(rows)} undecided mapping{'' if len(rows) == 1 else 's'}** in the view \"label check\", "
                 f"the least supported first. "
                 f"*Show* puts a mapping's drawings in the grid; *Accept* or *Reject* decides it as a whole "
                 f"(drawings already reviewed keep their state; *Curation: undo* takes a decision back).",
                 name="intro")
        panel.btn("refresh", label="Refresh", icon="refresh", on_click=self.refresh)
        table = types.TableView(max_inline_actions=3)
        for key, label in (("mapping", "Mapping"), ("drawings", "Drawings"), ("rejected", "Rejected"),
                           ("unsure", "Unsure"), ("score", "Score")):
            table.add_column(key, label=label)
        table.add_row_action("show", self.show, label="Show", icon="visibility",
                             tooltip="the mapping's undecided drawings in the grid")
        table.add_row_action("accept", self.accept, label="Accept", icon="done_all", tooltip="accept the mapping")
        table.add_row_action("reject", self.reject, label="Reject", icon="remove_done", tooltip="reject the mapping")
        panel.list("mappings", types.Object(), view=table)
        return types.Property(panel, view=types.GridView(orientation="vertical"))


# ---------------------------------------------------------------- the Model Evaluation panel, opened on a run

def _initial_view(ctx) -> dict | None:
    """The ``view`` state that curation.app gave this panel in its space (FiftyOne's App does not pass a Python
    panel's initial state on to it), or None."""
    panel_id = ctx.params.get("panel_id")
    spaces = ctx.request_params.get("spaces") or {}
    stack = [spaces]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("component_id") == panel_id:
                return (node.get("state") or {}).get("view")
            stack.extend(node.get("children") or [])
    return None


def _failures_view_name(eval_key: str) -> str:
    """curation.writeback's failures view of the name that owns ``eval_key`` (``N_top1`` or ``N_top5``)."""
    from curation.writeback_fields import failure_view_name

    return failure_view_name(eval_key.removesuffix("_top1").removesuffix("_top5"))


def _failures_view(dataset, eval_key: str, label: str):
    """The class's top-1 failures, worst first: the write-back's failures view, for one class."""
    from fiftyone import ViewField as F

    gt = dataset.get_evaluation_info(eval_key).config.gt_field
    return dataset.load_saved_view(_failures_view_name(eval_key)).match(F(f"{gt}.label") == label)


try:  # FiftyOne's own panel (plugins/panels/model_evaluation, shipped with fiftyone 1.x)
    from plugins.panels.model_evaluation import EvaluationPanel
except ImportError:  # pragma: no cover - an older FiftyOne: the App offers its own panel, if any
    EvaluationPanel = None

if EvaluationPanel is not None:
    class RunEvaluationPanel(EvaluationPanel):
        """FiftyOne's Model Evaluation panel, with two changes: it opens on the evaluation that curation.app
        selected, and clicking a class shows that class's failures (worst first) rather than all its samples."""

        @property
        def config(self):
            config = super().config
            config.name, config.label = "drawnet_model_evaluation", "Model Evaluation"
            return config

        def on_load(self, ctx):
            super().on_load(ctx)
            view = _initial_view(ctx)
            current = ctx.panel.get_state("view") or {}
            key = (view or {}).get("key")
            if key and current.get("page") != "evaluation" and ctx.dataset.has_evaluation(key):
                view = {**view, "id": self.get_evaluation_id(ctx.dataset, key), "init": True}
                ctx.panel.set_state("view", view)
                ctx.params.update(key=key, id=view["id"])  # load_evaluation reads the key from the params first
                self.load_evaluation(ctx)

        def load_view(self, ctx):
            options = ctx.params.get("options", {})
            key = options.get("key") or (ctx.panel.get_state("view") or {}).get("key")
            if (ctx.params.get("type") == "class" and key and not options.get("subset_def")
                    and ctx.dataset.get_evaluation_info(key).config.type == "classification"
                    and ctx.dataset.has_saved_view(_failures_view_name(key))):
                ctx.ops.set_view(_failures_view(ctx.dataset, key, options.get("x")))
                return
            return super().load_view(ctx)


def register(p):
    for op in (Accept, Reject, MoveToClass, MarkAmbiguous, AcceptSuggestion, RefuseSuggestion, ConfirmLabel, Undo,
               AcceptMapping, RejectMapping, LabelCheckPanel):
        p.register(op)
    if EvaluationPanel is not None:
        p.register(RunEvaluationPanel)
