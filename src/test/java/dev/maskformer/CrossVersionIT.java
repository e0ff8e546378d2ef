// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * An export made by a newer torch than the running LibTorch: a ModelLoadException that names both
 * versions. Run by the compatibility stage of {@code ./maskformer test}, which points {@code
 * maskformer.newerExport} at a torch 2.x export while the shim runs on Debian's 1.13 (skipped
 * elsewhere). The other direction, 1.13 exports on 2.x with labels equal to 1.13's own, is
 * ParityIT run on the 1.13 fixtures by the same stage.
 */
class CrossVersionIT {
  @Test
  void anExportOfANewerTorchIsRefusedWithBothVersions() {
    String file = System.getProperty("maskformer.newerExport", "");
    assumeTrue(!file.isBlank() && Files.isRegularFile(Path.of(file)), "no export of a newer torch given");
    ModelLoadException e = assertThrows(ModelLoadException.class, () -> MaskFormer.load(Path.of(file)));
    assertEquals(Status.MODEL_FORMAT, e.status());
    String running = MaskFormerRuntime.info().libtorchVersion();
    assertTrue(e.getMessage().contains("newer than this LibTorch " + running), e.getMessage());
    assertTrue(e.getMessage().matches("(?s).*exported with torch \\d+\\.\\d+.*"), e.getMessage());
    assertTrue(e.getMessage().length() < 1000, "one clear message, not a TorchScript dump: " + e.getMessage());
  }
}
