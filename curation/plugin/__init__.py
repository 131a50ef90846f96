"""The FiftyOne App's curation actions: thin operators over ``curation.actions``.

Each acts on the selected samples or, with none selected, on the whole current view
(the form says how many), logs the action, and reloads the App. FiftyOne finds this
plugin through ``FIFTYONE_PLUGINS_DIR``, which ``curation.database`` sets.
"""
import fiftyone.operators as foo
import fiftyone.operators.types as types

from curation import actions
from curation.load import KEY


def _targets(ctx) -> list:
    view = ctx.dataset.select(ctx.selected) if ctx.selected else ctx.view
    return view.values(KEY)


def _describe(ctx, inputs, verb: str) -> None:
    # the App does not always send the selection with the form, so the text covers both cases
    inputs.view("what", types.Notice(label=f"{verb}: the selected samples or, with none selected, all "
                                           f"{len(ctx.view)} samples in the current view"))


class _Curate(foo.Operator):
    op_name = action = verb = icon = ""

    @property
    def config(self):
        return foo.OperatorConfig(name=self.op_name, label=f"Curation: {self.verb}", dynamic=True,
                                  light_icon=self.icon, dark_icon=self.icon)

    def resolve_placement(self, ctx):
        return types.Placement(types.Places.SAMPLES_GRID_SECONDARY_ACTIONS,
                               types.Button(label=self.verb, icon=self.icon, prompt=True))

    def resolve_input(self, ctx):
        inputs = types.Object()
        _describe(ctx, inputs, self.verb)
        return types.Property(inputs, view=types.View(label=f"Curation: {self.verb}"))

    def execute(self, ctx):
        record = actions.curate(ctx.dataset, self.action, _targets(ctx), to=ctx.params.get("wnid"))
        ctx.ops.clear_selected_samples()  # a moved sample may have left the view
        ctx.ops.reload_dataset()
        return {"action": record["action"], "samples": len(record["image_ids"]), "record": record["id"]}


class Accept(_Curate):
    op_name, action, verb, icon = "accept", "accept", "Accept", "check_circle"


class Reject(_Curate):
    op_name, action, verb, icon = "reject", "reject", "Reject", "block"


class MarkAmbiguous(_Curate):
    op_name, action, verb, icon = "mark_ambiguous", "ambiguous", "Mark ambiguous", "help"


class MoveToClass(_Curate):
    op_name, action, verb, icon = "move_to_class", "move", "Move to class", "drive_file_move"

    def resolve_input(self, ctx):
        from curation.load import class_label
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


class Undo(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(name="undo", label="Curation: undo the last action", light_icon="undo",
                                  dark_icon="undo")

    def resolve_placement(self, ctx):
        return types.Placement(types.Places.SAMPLES_GRID_SECONDARY_ACTIONS,
                               types.Button(label="Undo curation", icon="undo", prompt=False))

    def execute(self, ctx):
        record = actions.undo(ctx.dataset)
        ctx.ops.reload_dataset()
        if record is None:
            return {"undone": None}
        return {"undone": record["undoes_action"], "samples": len(record["image_ids"])}


def register(p):
    for op in (Accept, Reject, MoveToClass, MarkAmbiguous, Undo):
        p.register(op)
