// Host side of <arch/pte.hpp>: the x86-64 entry encoding is pure arithmetic, so host tests use
// the real one; only instructions (TLB flush, CR3) are faked, by the test's PageTableMemory.
#pragma once
#include "../../../src/arch/x86_64/include/arch/pte.hpp"
