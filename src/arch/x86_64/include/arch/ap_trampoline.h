/*
 * The AP trampoline's page and the data block at ap_trampoline_data, shared by ap_trampoline.S
 * (which reads the block) and smp_startup.cpp (which fills it and static_asserts the layout).
 */
#ifndef SABLE_ARCH_AP_TRAMPOLINE_H
#define SABLE_ARCH_AP_TRAMPOLINE_H

/* Below 1 MiB and 4 KiB-aligned, as STARTUP's vector is a page number [SDM vol3 §8.4.4.1];
   inside the first MiB the frame allocator keeps for firmware, so nothing else lives there. */
#define AP_TRAMPOLINE_BASE 0x8000
#define AP_TRAMPOLINE_PAGE_BYTES 4096

#define AP_DATA_ROOT_TABLE 0   /* u32: the kernel's PML4, physical, below 4 GiB          */
#define AP_DATA_EFER_BITS 4    /* u32: EFER bits to set (LME, NXE when the BSP uses NX)  */
#define AP_DATA_STACKS 8       /* u64: address of u64[256], stack top by initial APIC id */
#define AP_DATA_ENTRY 16       /* u64: the 64-bit entry, called with the APIC id         */
#define AP_DATA_BYTES 24

#endif
