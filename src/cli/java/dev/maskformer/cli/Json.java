// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import java.util.Locale;
import java.util.Map;

/** Just enough JSON for the CLI's output and for reading string fields of the metadata. */
final class Json {
  private Json() {}

  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"').toString();
  }

  static String number(double v) {
    if (Double.isNaN(v) || Double.isInfinite(v)) {
      return "null";
    }
    if (v == Math.rint(v) && Math.abs(v) < 1e15) {
      return Long.toString((long) v);
    }
    return String.format(Locale.ROOT, "%.6f", v);
  }

  /** A flat object from ordered entries; values are emitted raw (already JSON). */
  static String object(Map<String, String> entries, String indent) {
    StringBuilder b = new StringBuilder("{\n");
    int n = 0;
    for (var e : entries.entrySet()) {
      b.append(indent).append("  ").append(quote(e.getKey())).append(": ").append(e.getValue());
      b.append(++n < entries.size() ? ",\n" : "\n");
    }
    return b.append(indent).append('}').toString();
  }

  /** The value of a top-level string field, or null (absent, null, or not a string). */
  static String stringField(String json, String key) {
    String needle = quote(key);
    int at = json.indexOf(needle);
    while (at >= 0) {
      int i = at + needle.length();
      while (i < json.length() && Character.isWhitespace(json.charAt(i))) {
        i++;
      }
      if (i < json.length() && json.charAt(i) == ':') {
        i++;
        while (i < json.length() && Character.isWhitespace(json.charAt(i))) {
          i++;
        }
        if (i >= json.length() || json.charAt(i) != '"') {
          return null;
        }
        StringBuilder v = new StringBuilder();
        for (i++; i < json.length(); i++) {
          char c = json.charAt(i);
          if (c == '"') {
            return v.toString();
          }
          if (c == '\\' && i + 1 < json.length()) {
            char e = json.charAt(++i);
            switch (e) {
              case 'n' -> v.append('\n');
              case 't' -> v.append('\t');
              case 'u' -> {
                v.append((char) Integer.parseInt(json.substring(i + 1, i + 5), 16));
                i += 4;
              }
              default -> v.append(e);
            }
          } else {
            v.append(c);
          }
        }
        return null;
      }
      at = json.indexOf(needle, at + 1);
    }
    return null;
  }
}
