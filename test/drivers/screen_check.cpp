// screen_check: compares a QEMU screendump of the framebuffer console with what the console
// must show, given the serial log. The serial port and the screen get the same bytes (the
// kernel's console fan-out), so replaying the log from the kernel's banner through the kernel's
// own portable console code, font and colours gives the expected picture, pixel for pixel.
//
//   screen_check --screen dump.ppm < serial.log
//
// Exit 0 if every pixel matches; else 1, naming each text row that differs and what it should
// read. Used by the system tests (cmake/system_tests.cmake) after tools/run-qemu --screendump.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "drivers/console_font.hpp"
#include "drivers/framebuffer_text.hpp"

namespace {

struct Ppm {
    unsigned width = 0, height = 0;
    std::vector<uint8_t> rgb;
};

// [netpbm P6] "P6" width height maxval, single whitespace, then width*height RGB triples.
bool read_ppm(const char* path, Ppm& out) {
    std::ifstream file(path, std::ios::binary);
    std::string magic;
    unsigned maxval = 0;
    if (!(file >> magic >> out.width >> out.height >> maxval) || magic != "P6" || maxval != 255) return false;
    file.get();
    out.rgb.resize(size_t{out.width} * out.height * 3);
    return static_cast<bool>(
        file.read(reinterpret_cast<char*>(out.rgb.data()), static_cast<std::streamsize>(out.rgb.size())));
}

// The log from the last kernel banner on: firmware output before it never reached the screen
// console, and after a reboot only the last boot's is on the screen.
std::string from_last_banner(const std::string& log) {
    static const std::regex banner("(^|\n)Sable [0-9]+\\.[0-9]+\\.[0-9]+");
    size_t start = std::string::npos;
    for (auto it = std::sregex_iterator(log.begin(), log.end(), banner); it != std::sregex_iterator(); ++it)
        start = static_cast<size_t>(it->position()) + it->str(1).size();
    return start == std::string::npos ? std::string() : log.substr(start);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3 || std::strcmp(argv[1], "--screen") != 0) {
        std::fprintf(stderr, "usage: screen_check --screen dump.ppm < serial.log\n");
        return 1;
    }
    Ppm screen;
    if (!read_ppm(argv[2], screen)) {
        std::fprintf(stderr, "screen_check: %s is not a P6 PPM with maxval 255\n", argv[2]);
        return 1;
    }
    const std::string log((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    const std::string text = from_last_banner(log);
    if (text.empty()) {
        std::fprintf(stderr, "screen_check: no kernel banner in the serial log\n");
        return 1;
    }

    // The layout only decides how pixels are stored here; comparison is by colour.
    const drivers::PixelLayout layout{screen.width, screen.height, screen.width * 4, 32, {16, 8}, {8, 8}, {0, 8}};
    std::vector<char> cells(drivers::kConsoleCells);
    drivers::FramebufferText console;
    if (auto started = console.init(layout, {cells.data(), cells.size()}); !started) {
        std::fprintf(stderr, "screen_check: %ux%u: %s\n", screen.width, screen.height,
                     drivers::describe(started.error()));
        return 1;
    }
    std::vector<uint8_t> expected(size_t{layout.pitch_bytes} * layout.height);
    console.set_screen(expected.data());
    console.write(text.data(), text.size());

    const drivers::TextGrid& grid = console.grid();
    const unsigned glyph_height = drivers::console_font::kGlyphHeight;
    unsigned bad_rows = 0, text_rows = 0;
    for (unsigned y0 = 0; y0 < screen.height; y0 += glyph_height) {
        const unsigned row = y0 / glyph_height;
        size_t mismatches = 0;
        for (unsigned y = y0; y < y0 + glyph_height && y < screen.height; ++y)
            for (unsigned x = 0; x < screen.width; ++x) {
                uint32_t pixel;
                std::memcpy(&pixel, &expected[size_t{y} * layout.pitch_bytes + x * 4], 4);
                const drivers::Rgb want = drivers::decode_color(layout, pixel);
                const uint8_t* got = &screen.rgb[(size_t{y} * screen.width + x) * 3];
                mismatches += got[0] != want.red || got[1] != want.green || got[2] != want.blue;
            }
        std::string line;
        if (row < grid.rows()) {
            line.assign(grid.slot_cells(grid.slot_of_row(row)), grid.columns());
            line.erase(line.find_last_not_of(' ') + 1);
            text_rows += !line.empty();
        }
        if (mismatches) {
            ++bad_rows;
            std::fprintf(stderr, "screen_check: row %u: %zu pixels differ; it should read \"%s\"\n", row, mismatches,
                         line.c_str());
        }
    }
    std::fprintf(stderr, "screen_check: %ux%u, %ux%u characters, %u rows of text expected, %u rows differ\n",
                 screen.width, screen.height, grid.columns(), grid.rows(), text_rows, bad_rows);
    return bad_rows == 0 ? 0 : 1;
}
