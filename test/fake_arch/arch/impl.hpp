// Host side of <arch/impl.hpp>: the x86-64 page-table encoding is pure arithmetic, so host tests
// use the real one; instructions (TLB flush, CR3) are faked by each test's PageTableMemory.
#pragma once

#include <arch/pte.hpp>
