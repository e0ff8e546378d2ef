// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** The committed bindings were generated from the header as it is now. */
class BindingsTest {
  @Test
  void headerMatchesGeneratedBindings() throws Exception {
    Path header = Path.of("cpp/include/maskformer.h");
    String actual = HexFormat.of().formatHex(
        MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(header)));
    String recorded = Files.readString(Path.of("bindings/header.sha256")).trim();
    assertEquals(recorded, actual, "cpp/include/maskformer.h changed since bindings/ were "
        + "generated: run bindings/generate.sh (needs jextract) and commit the result");
    assertTrue(Files.readString(Path.of("bindings/GENERATE.md")).contains(actual),
        "bindings/GENERATE.md must record the header's sha256");
  }

  @Test
  void abiVersionsAgree() throws Exception {
    String header = Files.readString(Path.of("cpp/include/maskformer.h"));
    assertTrue(header.contains("#define MF_ABI_VERSION " + dev.maskformer.internal.NativeLibrary.EXPECTED_ABI),
        "MF_ABI_VERSION in the header and NativeLibrary.EXPECTED_ABI differ");
  }
}
