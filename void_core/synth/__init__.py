"""Counterfactual scene generator: factual video, ground-truth quadmask and clean target.

Each scene is rendered twice per frame with identical camera, lighting and sensor noise, once
with the primary object and once as if it had never existed, so the quadmask (0 object, 127
what it caused, 63 both, 255 untouched) and the target frames are exact ground truth. Scenes vary
camera (static/pan), background (photo/procedural), object size, shadow and push. Used by the
tests, the demo and the benchmarks. No Prefect or Ray here.
"""

from void_core.synth.plan import ScenePlan, plan_scene
from void_core.synth.render import SceneFrame, render_scene
from void_core.synth.spec import SceneSpec, SceneSpecError, standard_scenes
from void_core.synth.write import SceneInfo, write_scene

__all__ = ["SceneFrame", "SceneInfo", "ScenePlan", "SceneSpec", "SceneSpecError", "plan_scene",
           "render_scene", "standard_scenes", "write_scene"]
