// The host's implementation of the arch contract functions portable code calls, with state
// (see fake_arch.hpp). Not a CPU: nothing here switches tasks or takes interrupts.
#include "fake_arch.hpp"

#include <string.h>

#include <atomic>
#include <mutex>
#include <set>

#include <sable/abi.h>

#include "arch/arch.hpp"

namespace {

thread_local bool t_interrupts_enabled = true;
thread_local unsigned t_disable_depth = 0;

std::mutex g_mutex;  // guards everything below
std::vector<uint8_t> g_user;
uint64_t g_user_base = 0;
std::set<uint64_t> g_fault_pages;
uint64_t g_user_faults = 0;
uint64_t g_address_space = 0;
std::vector<std::pair<uint32_t, uint8_t>> g_ipis;
std::vector<uint64_t> g_invalidated;
std::atomic<uint64_t> g_relax_count{0};  // not under g_mutex: spinning threads must not queue on it

constexpr uint64_t kPage = 4096;

bool in_window(uint64_t address) { return address >= g_user_base && address - g_user_base < g_user.size(); }
// User space as the ABI draws it: an address there outside the window is an unmapped page.
bool in_user_space(uint64_t address) { return address >= SABLE_USER_BASE && address < SABLE_USER_TOP; }

}  // namespace

namespace fake_arch {

bool interrupts_enabled() { return t_interrupts_enabled; }
unsigned disable_depth() { return t_disable_depth; }

void map_user_window(uint64_t base, uint64_t size) {
    std::lock_guard lock(g_mutex);
    g_user_base = base;
    g_user.assign(size, 0);
}

uint8_t* user_bytes(uint64_t user_address) {
    std::lock_guard lock(g_mutex);
    return in_window(user_address) ? &g_user[user_address - g_user_base] : nullptr;
}

void fault_user_page(uint64_t user_address) {
    std::lock_guard lock(g_mutex);
    g_fault_pages.insert(user_address & ~(kPage - 1));
}

uint64_t user_faults() {
    std::lock_guard lock(g_mutex);
    return g_user_faults;
}

uint64_t relax_count() { return g_relax_count.load(); }

uint64_t loaded_address_space() {
    std::lock_guard lock(g_mutex);
    return g_address_space;
}

std::vector<std::pair<uint32_t, uint8_t>> sent_ipis() {
    std::lock_guard lock(g_mutex);
    return g_ipis;
}

std::vector<uint64_t> invalidated_pages() {
    std::lock_guard lock(g_mutex);
    return g_invalidated;
}

void reset() {
    std::lock_guard lock(g_mutex);
    t_interrupts_enabled = true;
    t_disable_depth = 0;
    g_user.clear();
    g_user_base = 0;
    g_fault_pages.clear();
    g_user_faults = 0;
    g_address_space = 0;
    g_ipis.clear();
    g_invalidated.clear();
    g_relax_count = 0;
}

}  // namespace fake_arch

namespace arch {

bool save_and_disable_interrupts() {
    const bool were_enabled = t_interrupts_enabled;
    t_interrupts_enabled = false;
    ++t_disable_depth;
    return were_enabled;
}

void restore_interrupts(bool were_enabled) {
    --t_disable_depth;
    t_interrupts_enabled = were_enabled;
}

void cpu_relax() { g_relax_count.fetch_add(1); }

void set_cpu_local_base(void* block) { t_cpu_local_base = block; }

void invalidate_tlb_page(uint64_t virt_addr) {
    std::lock_guard lock(g_mutex);
    g_invalidated.push_back(virt_addr);
}

void flush_tlb_non_global() {
    std::lock_guard lock(g_mutex);
    g_invalidated.push_back(~0ull);  // "everything"
}

void load_address_space(uint64_t pml4_phys) {
    std::lock_guard lock(g_mutex);
    g_address_space = pml4_phys;
}

void send_ipi(uint32_t apic_id, uint8_t vector) {
    std::lock_guard lock(g_mutex);
    g_ipis.emplace_back(apic_id, vector);
}

// Byte by byte, like `rep movsb`: a fault leaves what came before it copied.
bool copy_user(void* destination, const void* source, uint64_t size) {
    std::lock_guard lock(g_mutex);
    auto* to = static_cast<uint8_t*>(destination);
    const auto* from = static_cast<const uint8_t*>(source);
    for (uint64_t i = 0; i < size; ++i) {
        const uint64_t to_address = reinterpret_cast<uint64_t>(to + i);
        const uint64_t from_address = reinterpret_cast<uint64_t>(from + i);
        const bool to_user = in_user_space(to_address), from_user = in_user_space(from_address);
        const uint64_t user_address = to_user ? to_address : from_user ? from_address : 0;
        if ((to_user || from_user) && (!in_window(user_address) || g_fault_pages.count(user_address & ~(kPage - 1)))) {
            ++g_user_faults;
            return false;
        }
        const uint8_t byte = from_user ? g_user[from_address - g_user_base] : from[i];
        if (to_user) g_user[to_address - g_user_base] = byte;
        else to[i] = byte;
    }
    return true;
}

}  // namespace arch
