"""The catalog of tools: the one table the server, the pages and the scripts derive a tool's names from."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Tool:
    """One photo tool and every name it goes by."""

    id: str  # the API name: /api/<id>, the engines' tool name, the i18n string prefix "<id>.*"
    page: str  # the site path of its page (public/<page>.html)
    suffix: str  # what a downloaded result's file name ends with: photo-<suffix>.jpg
    takes_mask: bool = False  # whether the tool accepts a `mask` part


TOOLS = (
    Tool("denoise", "/denoise", "denoised"),
    Tool("remove_bg", "/remove-background", "no-background"),
    Tool("remove_watermark", "/remove-watermark", "no-watermark", takes_mask=True),
)
BY_ID = {tool.id: tool for tool in TOOLS}
IDS = tuple(BY_ID)


def get(tool_id):
    """The Tool named `tool_id` (KeyError for anything else)."""
    return BY_ID[tool_id]
