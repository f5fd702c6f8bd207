// The lockup detector's settings and stall rule (see watchdog_rule.hpp).
#include "lib/watchdog_rule.hpp"

namespace kstd {
namespace {

bool parse_seconds(StringView word, uint64_t& seconds) {
    if (word.empty() || word.size() > 4) return false;  // kWatchdogMaxSeconds has four digits
    uint64_t value = 0;
    for (char c : word) {
        if (c < '0' || c > '9') return false;
        value = value * 10 + static_cast<uint64_t>(c - '0');
    }
    if (value == 0 || value > kWatchdogMaxSeconds) return false;
    seconds = value;
    return true;
}

}  // namespace

bool parse_watchdog_setting(StringView value, WatchdogSettings& settings) {
    WatchdogSettings parsed = settings;
    size_t start = 0;
    while (start <= value.size() && !value.empty()) {
        size_t comma = value.find(',', start);
        if (comma == StringView::npos) comma = value.size();
        const StringView word = value.substr(start, comma - start);
        uint64_t seconds = 0;
        if (word == "off") parsed.enabled = false;
        else if (word == "warn") parsed.panic = false;
        else if (word == "panic") parsed.panic = true;
        else if (parse_seconds(word, seconds)) parsed.threshold_ns = seconds * 1000000000ull;
        else return false;
        start = comma + 1;
    }
    settings = parsed;
    return true;
}

const char* describe(Stall stall) {
    switch (stall) {
    case Stall::None: return "not stuck";
    case Stall::InterruptsOff: return "interrupts off";
    case Stall::NotScheduling: return "in the kernel without scheduling";
    }
    return "not stuck";
}

void StallWatch::restart(Mark& mark, uint64_t value, uint64_t now_ns, uint64_t watcher_ticks) {
    mark = {value, now_ns, watcher_ticks, false};
}

bool StallWatch::stuck(const Mark& mark, uint64_t now_ns, uint64_t watcher_ticks, const WatchdogSettings& settings,
                       unsigned tick_hz) {
    const uint64_t half_threshold_ticks = settings.threshold_ns / 1000000 * tick_hz / 2000;
    return now_ns - mark.since_ns >= settings.threshold_ns && watcher_ticks - mark.since_watcher_tick >= half_threshold_ticks;
}

StallVerdict StallWatch::observe(const WatchedSample& sample, uint64_t now_ns, uint64_t watcher_ticks,
                                 const WatchdogSettings& settings, unsigned tick_hz) {
    if (!settings.enabled) return {};
    if (!m_started) {
        restart(m_heartbeat, sample.heartbeat, now_ns, watcher_ticks);
        restart(m_progress, sample.progress, now_ns, watcher_ticks);
        m_started = true;
        return {};
    }
    if (sample.heartbeat != m_heartbeat.value) {
        // The end of a reported interrupts-off stall: it cannot be reported again as a CPU
        // that did not schedule (it could not, without ticks), so that count starts over too.
        if (m_heartbeat.reported) restart(m_progress, sample.progress, now_ns, watcher_ticks);
        restart(m_heartbeat, sample.heartbeat, now_ns, watcher_ticks);
    }
    if (sample.progress != m_progress.value) restart(m_progress, sample.progress, now_ns, watcher_ticks);
    if (m_heartbeat.reported) return {};  // the same stall, still going on
    if (stuck(m_heartbeat, now_ns, watcher_ticks, settings, tick_hz)) {
        m_heartbeat.reported = true;
        return {Stall::InterruptsOff, m_heartbeat.since_ns};
    }
    if (!m_progress.reported && stuck(m_progress, now_ns, watcher_ticks, settings, tick_hz)) {
        m_progress.reported = true;
        return {Stall::NotScheduling, m_progress.since_ns};
    }
    return {};
}

}  // namespace kstd
