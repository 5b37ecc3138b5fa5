"""vibmag.memory: inside reusing_freed_memory, large temporaries reuse freed pages instead of faulting in fresh ones."""

import resource

import pytest
import torch

from vibmag import memory

BLOCK = 64 * 2**20  # above glibc's largest dynamic mmap threshold (32 MiB): mmapped afresh on every allocation by default


def faults_of_repeated_blocks(repeats: int = 4) -> list[int]:
    """Minor page faults of each of ``repeats`` allocate-touch-free cycles of one BLOCK (a torch tensor, as in the loops)."""
    counts = []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block = torch.empty(BLOCK, dtype=torch.uint8)
        block.fill_(1)
        del block
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return counts


needs_glibc = pytest.mark.skipif(memory._libc() is None, reason="malloc tuning applies to glibc processes only")


def resident_mib() -> float:
    """This process's resident memory, MiB (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


@needs_glibc
def test_freed_blocks_are_reused_inside():
    outside = faults_of_repeated_blocks(8)
    with memory.reusing_freed_memory():
        inside = faults_of_repeated_blocks(8)
    fresh = min(outside[1:])  # every cycle faults the whole block in: BLOCK / 4 KiB, or / 2 MiB with huge pages
    assert fresh >= BLOCK // 2**21
    reused = [count <= 0.1 * fresh for count in inside]
    assert sum(reused) >= 4, inside  # once the heap holds freed blocks, they are reused (glibc may grow it first)


@needs_glibc
def test_kept_memory_is_handed_back_after_the_block():
    with memory.reusing_freed_memory():
        block = torch.ones(256 * 2**20, dtype=torch.uint8)
        del block
        kept = resident_mib()
    assert resident_mib() < kept - 200  # malloc_trim returned the freed 256 MiB


@needs_glibc
def test_nested_blocks_hand_memory_back_only_at_the_outermost(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "_set", lambda libc, settings: calls.append(settings))
    with memory.reusing_freed_memory():
        with memory.reusing_freed_memory():
            assert calls == [memory._KEEP]
        assert calls == [memory._KEEP]
    assert calls == [memory._KEEP, memory._AFTER] and memory._depth == 0


@pytest.mark.parametrize("env", [{"VIBMAG_REUSE_MEMORY": "0"}, {"MALLOC_TRIM_THRESHOLD_": "131072"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.mmap_max=8"}])
def test_a_users_own_malloc_tuning_is_left_alone(monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    memory._libc.cache_clear()
    try:
        assert memory._libc() is None
    finally:
        monkeypatch.undo()
        memory._libc.cache_clear()


def test_decorated_function_returns_its_value():
    assert memory.reuses_freed_memory(lambda a, b=2: a * b)(3, b=4) == 12
