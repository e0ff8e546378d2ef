// SPDX-License-Identifier: Apache-2.0
// The pickle walker of scan_archive (archive.hpp): every opcode of a pickle record, before
// LibTorch's unpickler allocates by its numbers.
#include <cstdint>
#include <string>

#include "archive.hpp"

namespace maskformer {

std::string pickle_problem(const unsigned char* data, size_t size) {
  size_t pos = 0;
  auto remaining = [&] { return size - pos; };
  auto read_le = [&](size_t bytes, uint64_t* out) {
    if (remaining() < bytes) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v |= uint64_t(data[pos + i]) << (8 * i);
    pos += bytes;
    *out = v;
    return true;
  };
  auto skip_line = [&] {
    while (pos < size && data[pos] != '\n') ++pos;
    if (pos == size) return false;
    ++pos;
    return true;
  };
  const std::string truncated = "the pickle ends inside an opcode";
  while (pos < size) {
    const unsigned char op = data[pos++];
    uint64_t v = 0;
    switch (op) {
      // no argument
      case '(': case '0': case '1': case '2': case 'N': case 'Q': case 'R': case 'a': case 'b':
      case 'd': case '}': case 'e': case 'l': case ']': case 'o': case 's': case 't': case ')':
      case 'u': case 0x81: case 0x85: case 0x86: case 0x87: case 0x88: case 0x89: case 0x8f:
      case 0x90: case 0x91: case 0x92: case 0x93: case 0x94:
        break;
      case '.':  // STOP
        return "";
      // fixed-size arguments
      case 0x80: case 'K': case 'h': case 0x82:
        if (!read_le(1, &v)) return truncated;
        break;
      case 'M': case 0x83:
        if (!read_le(2, &v)) return truncated;
        break;
      case 'J': case 'j': case 0x84:
        if (!read_le(4, &v)) return truncated;
        break;
      case 'G':
        if (!read_le(8, &v)) return truncated;
        break;
      case 0x95:  // FRAME: the frame's length, then its opcodes inline
        if (!read_le(8, &v)) return truncated;
        if (v > remaining()) return "a frame of " + std::to_string(v) + " bytes, with " + std::to_string(remaining()) + " left";
        break;
      // memo writes
      case 'q': case 'r':
        if (!read_le(op == 'q' ? 1 : 4, &v)) return truncated;
        if (v >= size)
          return "memo index " + std::to_string(v) + " in a pickle of " + std::to_string(size) + " bytes";
        break;
      case 'p': {  // PUT: a decimal index on its own line
        const size_t start = pos;
        if (!skip_line()) return truncated;
        const std::string text(reinterpret_cast<const char*>(data + start), pos - start - 1);
        if (text.size() > 12 || std::stoull("0" + text) >= size)
          return "memo index " + text + " in a pickle of " + std::to_string(size) + " bytes";
        break;
      }
      // length-prefixed strings, bytes and longs
      case 'U': case 'C': case 0x8c: case 0x8a:
        if (!read_le(1, &v)) return truncated;
        goto length;
      case 'T': case 'X': case 'B': case 0x8b:
        if (!read_le(4, &v)) return truncated;
        goto length;
      case 0x8d: case 0x8e:
        if (!read_le(8, &v)) return truncated;
      length:
        if (v > remaining())
          return "a length of " + std::to_string(v) + " bytes, with " + std::to_string(remaining()) + " left";
        pos += size_t(v);
        break;
      // newline-terminated arguments
      case 'F': case 'I': case 'L': case 'S': case 'V': case 'g': case 'P':
        if (!skip_line()) return truncated;
        break;
      case 'c': case 'i':  // module and name, two lines
        if (!skip_line() || !skip_line()) return truncated;
        break;
      default:
        return "";
    }
  }
  return "";
}

}  // namespace maskformer
