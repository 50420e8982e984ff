"""What resident engine hosts and their forwarding tasks ask Ray for (no Ray started here)."""

from __future__ import annotations

import pytest

from tasks.engine_host import (
    forwarding_resources, host_name, host_resources, is_resident,
)
from void_core.pipeline import stages


def settings(tmp_path, **changes) -> stages.RunSettings:
    base = dict(run_id="run-1", cutlist=str(tmp_path / "cut.otio"), out_root=tmp_path / "out",
                db_url=f"sqlite:///{tmp_path / 'l.db'}")
    base.update(changes)
    return stages.RunSettings(**base)


def test_a_gpu_host_holds_its_gpu_and_its_forwarding_task_a_sliver_of_cpu():
    declared = {"num_gpus": 1, "num_cpus": 2}
    assert host_resources(declared) == {"num_gpus": 1, "num_cpus": 2}
    assert forwarding_resources(declared) == {"num_cpus": 0.1}


def test_a_cpu_host_holds_no_cpu_and_its_forwarding_task_holds_the_engines_cpus():
    declared = {"num_cpus": 2, "unknown_key": 5}
    assert host_resources(declared) == {"num_cpus": 0}
    assert forwarding_resources(declared) == {"num_cpus": 2}
    # two CPU hosts on a 2-CPU node leave both CPUs for the stage tasks
    assert sum(host_resources({"num_cpus": 1})["num_cpus"] for _ in range(2)) == 0


def test_only_gpu_engines_are_resident_unless_forced(tmp_path):
    classical = settings(tmp_path)
    assert not is_resident("inpaint", classical, None)
    assert not is_resident("masking", classical, None)
    assert is_resident("inpaint", classical, True) and is_resident("masking", classical, True)
    assert not is_resident("analysis", classical, True)  # heuristic: no model to keep
    checkpoint = tmp_path / "sam2.pt"
    checkpoint.write_bytes(b"not loaded: resources() does not read it")
    sam2_on_cuda = settings(tmp_path, masker="sam2", masker_settings={
        "config": "configs/sam2.1/sam2.1_hiera_t.yaml", "checkpoint": str(checkpoint),
        "device": "cuda"})
    assert is_resident("masking", sam2_on_cuda, None)
    assert not is_resident("masking", sam2_on_cuda, False)


def test_host_names_differ_per_stage_run_and_engine_settings(tmp_path):
    one = settings(tmp_path)
    names = {host_name(one, "masking"), host_name(one, "inpaint"),
             host_name(settings(tmp_path, run_id="run-2"), "inpaint"),
             host_name(settings(tmp_path, engine_settings={"window": 3}), "inpaint")}
    assert len(names) == 4
    assert host_name(one, "inpaint") == host_name(settings(tmp_path), "inpaint")


def test_stages_without_resident_engines_are_refused(tmp_path):
    from tasks.engine_host import stage_engine

    with pytest.raises(ValueError, match="qc"):
        stage_engine("qc", settings(tmp_path))


def test_a_run_places_its_stages_once(tmp_path):
    from tasks.engine_host import place_stages

    classical = place_stages(settings(tmp_path), None)
    assert classical.hosts == () and classical.forwarded == frozenset()
    assert classical.task_resources == {stage: {"num_cpus": 1} for stage in stages.STAGE_ORDER}

    forced = place_stages(settings(tmp_path), True)
    assert forced.hosts == ("masking", "inpaint")
    assert forced.forwarded == {"masking", "inpaint"}  # classical masking segments no objects
    assert forced.task_resources["masking"] == {"num_cpus": 1} and forced.gpus_held() == {}

    checkpoint = tmp_path / "sam2.pt"
    checkpoint.write_bytes(b"not loaded: placing reads no weights")
    sam2_on_cuda = place_stages(settings(tmp_path, masker="sam2", masker_settings={
        "config": "configs/sam2.1/sam2.1_hiera_t.yaml", "checkpoint": str(checkpoint),
        "device": "cuda"}), None)
    assert sam2_on_cuda.hosts == ("masking",)
    assert sam2_on_cuda.forwarded == {"masking", "analysis"}  # analysis segments with sam2
    assert sam2_on_cuda.task_resources["analysis"] == {"num_cpus": 0.1}
    assert sam2_on_cuda.task_resources["inpaint"] == {"num_cpus": 1}
    assert sam2_on_cuda.gpus_held() == {"masking": 1}


def test_the_farm_config_maps_stages_to_custom_resources(tmp_path):
    from tasks.engine_host import place_stages

    configured = {"inpaint": {"void_gpu": 1.0}, "qc": {"num_cpus": 0.5, "encode_node": 1.0}}
    placed = place_stages(settings(tmp_path), None, configured)
    assert placed.task_resources["inpaint"] == {"num_cpus": 1, "resources": {"void_gpu": 1.0}}
    assert placed.task_resources["qc"] == {"num_cpus": 0.5, "resources": {"encode_node": 1.0}}
    assert placed.task_resources["ingest"] == {"num_cpus": 1}
    assert placed.hosts == ()  # a custom resource does not make a CPU engine resident


def test_void_on_cuda_asks_for_its_gpu_class_and_the_config_can_replace_it(tmp_path):
    from tasks.engine_host import place_stages, with_configured
    from void_core.inpaint.void.tiny import make_tiny_model_dir

    model = make_tiny_model_dir(tmp_path / "tiny")
    void_cuda = settings(tmp_path, engine="void",
                         engine_settings={"model_dir": str(model), "device": "cuda"})
    placed = place_stages(void_cuda, None)
    assert placed.declared["inpaint"] == {"num_gpus": 1, "resources": {"void_gpu": 1}}
    assert placed.hosts == ("inpaint",)
    assert host_resources(placed.declared["inpaint"]) == {"num_gpus": 1, "num_cpus": 0,
                                                          "resources": {"void_gpu": 1}}
    big_cards = place_stages(void_cuda, None, {"inpaint": {"a100_80g": 1}})
    assert big_cards.declared["inpaint"] == {"num_gpus": 1, "resources": {"a100_80g": 1}}
    assert with_configured({"num_gpus": 1, "resources": {"void_gpu": 1}}, {}) == {"num_gpus": 1}


def test_an_analyzer_with_a_model_gets_a_host_of_its_own(tmp_path, tiny_vlm):
    from tasks.engine_host import place_stages

    vlm = {"analyzer": "local-vlm", "analyzer_settings": {"model_dir": str(tiny_vlm)}}
    on_cpu = place_stages(settings(tmp_path, **vlm), None)
    assert on_cpu.hosts == ()  # a CPU model is resident only when asked
    forced = place_stages(settings(tmp_path, **vlm), True)
    assert forced.hosts == ("masking", "analysis", "inpaint")
    assert forced.forwarded == {"masking", "analysis", "inpaint"}

    on_gpu = {"analyzer": "local-vlm",
              "analyzer_settings": {"model_dir": str(tiny_vlm), "device": "cuda"}}
    gpu = place_stages(settings(tmp_path, **on_gpu), None)
    assert gpu.hosts == ("analysis",) and gpu.gpus_held() == {"analysis": 1}
    assert gpu.task_resources["analysis"] == {"num_cpus": 0.1}

    checkpoint = tmp_path / "sam2.pt"
    checkpoint.write_bytes(b"not loaded: placing reads no weights")
    with_sam2 = place_stages(settings(tmp_path, **on_gpu, masker="sam2", masker_settings={
        "config": "configs/sam2.1/sam2.1_hiera_t.yaml", "checkpoint": str(checkpoint),
        "device": "cuda"}), None)
    # the analysis host runs the VLM and segments the affected objects on the same GPU
    assert with_sam2.hosts == ("masking", "analysis")
    assert with_sam2.declared["analysis"] == {"num_gpus": 1, "num_cpus": 1}


def test_two_engines_in_one_host_ask_for_the_larger_of_each_amount():
    from tasks.engine_host import together

    assert together({"num_gpus": 1, "num_cpus": 1, "resources": {"void_gpu": 1}},
                    {"num_gpus": 1, "num_cpus": 2}) == {"num_gpus": 1, "num_cpus": 2,
                                                        "resources": {"void_gpu": 1}}
    assert together({"num_cpus": 1}, {"num_cpus": 1}) == {"num_cpus": 1}


def _sam2_and_void_on_cuda(tmp_path) -> stages.RunSettings:
    from void_core.inpaint.void.tiny import make_tiny_model_dir

    checkpoint = tmp_path / "sam2.pt"
    checkpoint.write_bytes(b"never loaded: hosts build engines, shots load them")
    return settings(tmp_path, masker="sam2", masker_settings={
        "config": "configs/sam2.1/sam2.1_hiera_t.yaml", "checkpoint": str(checkpoint),
        "device": "cuda"}, engine="void", engine_settings={
        "model_dir": str(make_tiny_model_dir(tmp_path / "void")), "device": "cuda"})


def test_gpu_hosts_share_one_host_when_the_cluster_has_fewer_gpus(tmp_path):
    from tasks.engine_host import place_stages

    run = _sam2_and_void_on_cuda(tmp_path)
    apart = place_stages(run, None, cluster_gpus=2)
    assert apart.hosts == ("masking", "inpaint") and apart.also == {}
    shared = place_stages(run, None, cluster_gpus=1)
    assert shared.hosts == ("inpaint",)
    assert shared.also == {"inpaint": ("masking",)}
    assert shared.gpus_held() == {"inpaint": 1}  # one GPU held, not two
    assert shared.declared["inpaint"] == {"num_gpus": 1, "resources": {"void_gpu": 1}}
    assert shared.forwarded == {"masking", "analysis", "inpaint"}
    assert shared.task_resources == apart.task_resources


@pytest.mark.slow
@pytest.mark.xdist_group("ray-prefect")
def test_sam2_and_void_hosts_on_a_one_gpu_node_both_serve(tmp_path):
    """Before, the second GPU host waited forever for the GPU the first held for the whole
    run. Now one host holds the GPU and both engines; the masking and analysis stages find it."""
    import ray

    from tasks.engine_host import place_stages, serving_host, start_host

    run = _sam2_and_void_on_cuda(tmp_path)
    ray.init(address="local", num_cpus=2, num_gpus=1, resources={"void_gpu": 1},
             include_dashboard=False, log_to_driver=False)
    try:
        placement = place_stages(run, None, cluster_gpus=ray.cluster_resources()["GPU"])
        hosts = {stage: start_host(run, stage, placement.declared[stage],
                                   placement.also.get(stage, ())) for stage in placement.hosts}
        for stage in ("masking", "analysis", "inpaint"):
            ready, _ = ray.wait([serving_host(run, stage).stats.remote()], timeout=60)
            assert ready, f"the host of the {stage} stage was never scheduled"
        report = ray.get(hosts["inpaint"].stats.remote())
        assert report["engine"] == "void" and report["also"]["masking"]["engine"] == "sam2"

        @ray.remote
        def stage_task():
            return "ran"

        # the shared host leaves the node's CPUs to the stage tasks
        assert ray.get(stage_task.options(num_cpus=2).remote(), timeout=60) == "ran"
    finally:
        ray.shutdown()
