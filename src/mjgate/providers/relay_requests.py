"""What to send an upstream for one of our jobs: the route and the body, in /mj terms.

Our task id, our client's notifyHook and state never go upstream: the upstream gets only
the work, plus our own per-task callback URL as its notifyHook.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mjgate.domain.images import sniff_image_type
from mjgate.domain.tasks import TaskAction
from mjgate.errors import ProviderRejected
from mjgate.providers.base import ProviderJob


@dataclass(frozen=True)
class UpstreamRequest:
    route: str  # under /mj/submit/, or "insight-face/swap" under /mj/
    body: dict[str, Any]


def _data_url(data: bytes) -> str:
    kind = sniff_image_type(data)
    mime = kind[0] if kind else "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _common(job: ProviderJob) -> dict[str, Any]:
    body: dict[str, Any] = {"mode": job.mode.value}
    if job.callback_url:
        body["notifyHook"] = job.callback_url
    return body


def needs_inputs(job: ProviderJob) -> bool:
    """A follow-up names its parent upstream; new work carries its images along."""
    return not job.params.get("parent_ref")


def build_request(job: ProviderJob, inputs: Mapping[str, bytes]) -> UpstreamRequest:
    params = job.params
    body = _common(job)
    parent_ref = params.get("parent_ref")
    custom_id = params.get("custom_id")
    if params.get("parent_id") and not parent_ref:
        raise ProviderRejected("the parent task has no upstream id to follow up on")
    if custom_id and parent_ref:
        return UpstreamRequest("action", {**body, "taskId": parent_ref, "customId": custom_id})
    op = params.get("op")
    if job.action == TaskAction.VIDEO:
        body.update({"prompt": job.prompt, "motion": params.get("motion", "low")})
        if parent_ref:
            body["taskId"] = parent_ref
            if op == "video_extend":
                body["action"] = "extend"
            else:
                body["index"] = int(params.get("index", 1))
        elif "image" in inputs:
            body["image"] = _data_url(inputs["image"])
        return UpstreamRequest("video", body)
    refs = [inputs[key] for key in sorted(inputs) if key.startswith("ref")]
    if job.action == TaskAction.IMAGINE:
        body.update({"prompt": job.prompt, "base64Array": [_data_url(r) for r in refs]})
        return UpstreamRequest("imagine", body)
    if job.action == TaskAction.BLEND:
        images = [inputs[key] for key in sorted(inputs) if key.startswith("image")]
        body.update(
            {
                "base64Array": [_data_url(i) for i in images],
                "dimensions": params.get("dimensions", "SQUARE"),
            }
        )
        return UpstreamRequest("blend", body)
    if job.action == TaskAction.DESCRIBE:
        body["base64"] = _data_url(inputs["image"])
        return UpstreamRequest("describe", body)
    if job.action == TaskAction.SHORTEN:
        body["prompt"] = job.prompt
        return UpstreamRequest("shorten", body)
    if job.action == TaskAction.EDITS:
        body.update({"prompt": job.prompt, "image": _data_url(inputs["image"])})
        if "mask" in inputs:
            body["maskBase64"] = _data_url(inputs["mask"])
        return UpstreamRequest("edits", body)
    if job.action == TaskAction.SWAP_FACE:
        body.update(
            {
                "sourceBase64": _data_url(inputs["source"]),
                "targetBase64": _data_url(inputs["target"]),
            }
        )
        return UpstreamRequest("insight-face/swap", body)
    raise ProviderRejected(f"a relay channel cannot run {job.action.value} without a parent")


def modal_body(job: ProviderJob, upstream_id: str, inputs: Mapping[str, bytes]) -> dict[str, Any]:
    """The upstream waits in its modal (code 21): confirm it with our client's modal input."""
    body: dict[str, Any] = {"taskId": upstream_id, "prompt": job.prompt}
    if "mask" in inputs:
        body["maskBase64"] = _data_url(inputs["mask"])
    return body
