// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The message for a shim whose LibTorch cannot be found, without loading anything. */
class NativeLibraryTest {
  private static final String DLERROR =
      "/x/libmaskformer.so: libtorch_cpu.so: cannot open shared object file: No such file or directory";

  @Test
  void missingLibtorchNamesEveryPlaceSearched(@TempDir Path tmp) throws Exception {
    Path gone = tmp.resolve("removed/lib");
    Path empty = Files.createDirectories(tmp.resolve("empty"));
    Path full = Files.createDirectories(tmp.resolve("full"));
    Files.writeString(full.resolve("libtorch_cpu.so"), "");
    List<String> lines = NativeLibrary.libtorchDiagnosis(DLERROR,
        List.of(gone.toString(), empty.toString(), full.toString()), "/opt/a:/opt/b");
    String text = String.join("\n", lines);
    assertTrue(text.contains(gone + ": does not exist"), text);
    assertTrue(text.contains(empty + ": exists but holds no libtorch_cpu.so"), text);
    assertTrue(text.contains(full + ": holds LibTorch"), text);
    assertTrue(text.contains("LD_LIBRARY_PATH: /opt/a:/opt/b"), text);
    assertTrue(text.contains("/etc/ld.so.cache"), text);
  }

  @Test
  void unknownBuildAndNoLdPathAreSaid() {
    String text = String.join("\n", NativeLibrary.libtorchDiagnosis(DLERROR, List.of(), null));
    assertTrue(text.contains("built against: unknown"), text);
    assertTrue(text.contains("LD_LIBRARY_PATH: not set"), text);
  }

  @Test
  void otherLoadErrorsGetNoLibtorchLines() {
    assertEquals(List.of(), NativeLibrary.libtorchDiagnosis("invalid ELF header", List.of("/usr/lib"), null));
  }

  @Test
  void aLibtorchOfAnotherMinorVersionIsAMismatch() {
    String text = NativeLibrary.libtorchMismatch("2.13.0", "1.13.0", "/usr/lib/x86_64-linux-gnu/libtorch_cpu.so");
    assertTrue(text.contains("compiled against 2.13.0"), text);
    assertTrue(text.contains("loaded 1.13.0 (/usr/lib/x86_64-linux-gnu/libtorch_cpu.so)"), text);
    assertTrue(text.contains("LD_LIBRARY_PATH"), text);
    assertEquals(null, NativeLibrary.libtorchMismatch("2.13.0", "2.13.1", "x"));
    assertEquals(null, NativeLibrary.libtorchMismatch("2.13.0", "2.13.0a0+git", "x"));
    assertEquals(null, NativeLibrary.libtorchMismatch("2.13.0", "", "x")); // does not say
    assertTrue(NativeLibrary.libtorchMismatch("2.1.0", "2.13.0", "x") != null); // 2.1 is not 2.13
  }

  @Test
  void theLoaderErrorDoesNotRepeatThePath() {
    Path f = Path.of("/etc/passwd");
    assertEquals("invalid ELF header", NativeLibrary.withoutPath("/etc/passwd: /etc/passwd: invalid ELF header", f));
    assertEquals("libc10.so: cannot open shared object file",
        NativeLibrary.withoutPath("libc10.so: cannot open shared object file", f));
    assertEquals("unknown error", NativeLibrary.withoutPath(null, f));
  }
}
