// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.maskformer.internal.ffi.mf_host_cache_stats;
import dev.maskformer.internal.ffi.mf_image;
import dev.maskformer.internal.ffi.mf_load_options;
import dev.maskformer.internal.ffi.mf_model_info;
import dev.maskformer.internal.ffi.mf_output;
import dev.maskformer.internal.ffi.mf_segment_info;
import dev.maskformer.internal.ffi.mf_segment_options;
import java.lang.foreign.GroupLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
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

  /**
   * The short-struct rule of the header, as the Java side relies on it: every struct passed by
   * pointer starts with its struct_size, and its size is a multiple of its alignment (the shim
   * refuses other struct sizes, which would cut a field).
   */
  @Test
  void everyStructStartsWithItsSize() throws Exception {
    List<GroupLayout> layouts = List.of(mf_load_options.layout(), mf_model_info.layout(), mf_host_cache_stats.layout(),
        mf_image.layout(), mf_output.layout(), mf_segment_info.layout(), mf_segment_options.layout());
    for (GroupLayout l : layouts) {
      assertEquals("struct_size", l.memberLayouts().get(0).name().orElseThrow(), l.toString());
      assertEquals(0, l.byteSize() % l.byteAlignment(), l.toString());
    }
    String header = Files.readString(Path.of("cpp/include/maskformer.h"));
    assertEquals(layouts.size() + 1, header.split("uint32_t struct_size;").length,
        "a struct of the header with struct_size is missing here");
  }
}
