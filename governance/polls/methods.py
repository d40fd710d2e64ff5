"""Which counting methods each kind of poll may use, and how unranked options are explained."""

from __future__ import annotations

from ..copy import N_

KIND_METHODS: dict[str, tuple[str, ...]] = {
    "election": ("meek", "scottish"),
    "decision": ("irv", "schulze", "ranked-pairs"),
    "referendum": ("yesno",),
}

METHOD_NAMES = {
    "meek": N_("Meek STV"),
    "scottish": N_("Scottish STV"),
    "irv": N_("Instant-runoff voting"),
    "schulze": N_("Schulze (Condorcet)"),
    "ranked-pairs": N_("Ranked Pairs (Condorcet)"),
    "yesno": N_("Yes / no / abstain"),
}

#: Methods whose ballots may rank several options equally.
EQUAL_RANKS = frozenset({"schulze", "ranked-pairs"})

UNRANKED_MEANING = {
    "meek": N_("Options you leave unranked get none of your vote: once every option you ranked is elected "
            "or excluded, your ballot stops counting (it is exhausted)."),
    "scottish": N_("Options you leave unranked get none of your vote: once every option you ranked is elected "
                "or excluded, your ballot stops counting (it is exhausted)."),
    "irv": N_("Options you leave unranked get none of your vote: if every option you ranked is eliminated, "
           "your ballot stops counting (it is exhausted)."),
    "schulze": N_("Every option you rank counts as preferred to every option you leave unranked; unranked "
               "options count as equal to each other. You may give several options the same rank."),
    "ranked-pairs": N_("Every option you rank counts as preferred to every option you leave unranked; unranked "
                    "options count as equal to each other. You may give several options the same rank."),
    "yesno": N_("Choose yes, no or abstain. Abstentions count towards the quorum but not for or against."),
}
