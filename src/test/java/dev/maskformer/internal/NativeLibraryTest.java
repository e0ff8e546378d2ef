// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The loader's checks and messages, without loading anything. */
class NativeLibraryTest {
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
  void aShimOfAnotherVersionOrAbiIsRefusedBeforeLoading() {
    String v = NativeLibrary.version();
    assertTrue(v.matches("\\d+\\.\\d+\\.\\d+.*"), "version.properties is filtered by Maven: " + v);
    var same = new NativeLibrary.Shim("s", null, null, "c", v, Integer.toString(NativeLibrary.EXPECTED_ABI));
    assertEquals(null, NativeLibrary.checkShimVersion(same));
    var older = new NativeLibrary.Shim("s", null, null, "c", "0.0.1", Integer.toString(NativeLibrary.EXPECTED_ABI));
    assertTrue(NativeLibrary.checkShimVersion(older).contains("is of maskformer-java 0.0.1, this jar is " + v),
        NativeLibrary.checkShimVersion(older));
    var abi = new NativeLibrary.Shim("s", null, null, "c", v, "1");
    assertTrue(NativeLibrary.checkShimVersion(abi).contains("has C ABI 1, this jar needs " + NativeLibrary.EXPECTED_ABI));
    // properties that do not say are checked after loading, through mf_version and mf_abi_version
    assertEquals(null, NativeLibrary.checkShimVersion(new NativeLibrary.Shim("s", null, null, null, null, null)));
  }

  @Test
  void aResourceIsNamedByItsJar() throws Exception {
    assertEquals("/r/maskformer-native-0.1.0-x.jar", NativeLibrary.where(
        java.net.URI.create("jar:file:/r/maskformer-native-0.1.0-x.jar!/dev/maskformer/native/x/libmaskformer.so").toURL()));
    assertEquals("/work/target/classes/dev/x", NativeLibrary.where(java.net.URI.create("file:/work/target/classes/dev/x").toURL()));
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
