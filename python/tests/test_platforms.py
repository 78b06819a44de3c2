"""shardlm.platforms.current_platform answers as vLLM's does for the device this process has."""
import random

import pytest

from shardlm.platforms import DeviceCapability, current_platform

torch = pytest.importorskip("torch")


def test_platform_follows_torch_cuda():
    cuda = torch.cuda.is_available()
    assert current_platform.is_cuda() == cuda
    assert current_platform.is_cpu() == (not cuda)
    assert current_platform.device_type == ("cuda" if cuda else "cpu")
    assert not current_platform.is_rocm() and not current_platform.is_tpu() and not current_platform.is_xpu()
    if cuda:
        cap = current_platform.get_device_capability()
        assert cap == DeviceCapability(*torch.cuda.get_device_capability(0))
        assert current_platform.has_device_capability(cap.to_int())
        assert not current_platform.has_device_capability((cap.major + 1, 0))
    else:
        assert current_platform.get_device_capability() is None
        assert not current_platform.has_device_capability(80)
        assert not current_platform.supports_fp8()
        assert current_platform.get_device_total_memory() > 0


def test_seed_everything_makes_python_and_torch_draws_repeat():
    current_platform.seed_everything(1234)
    first = (random.random(), torch.rand(3).tolist())
    current_platform.seed_everything(1234)
    assert (random.random(), torch.rand(3).tolist()) == first
