// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.maskformer.internal.NativeStatus;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Native status codes map to the documented exception types. */
class StatusTest {
  @Test
  void codesMatchTheHeader() throws Exception {
    String header = Files.readString(Path.of("cpp/include/maskformer.h"));
    for (Status s : Status.values()) {
      if (s == Status.UNKNOWN) {
        continue;
      }
      String name = s == Status.OK ? "MF_OK" : "MF_ERR_" + s.name();
      assertEquals(true, header.matches("(?s).*#define " + name + " " + s.code() + "\\b.*"),
          name + " = " + s.code() + " not in the header");
    }
    assertEquals(Status.UNKNOWN, Status.fromCode(99));
  }

  @Test
  void exceptionTypes() {
    assertInstanceOf(ModelLoadException.class, NativeStatus.exceptionFor(Status.IO, "m"));
    assertInstanceOf(ModelLoadException.class, NativeStatus.exceptionFor(Status.MODEL_FORMAT, "m"));
    assertInstanceOf(UnsupportedDeviceException.class, NativeStatus.exceptionFor(Status.UNSUPPORTED, "m"));
    assertInstanceOf(NativeOutOfMemoryException.class, NativeStatus.exceptionFor(Status.OUT_OF_MEMORY, "m"));
    assertInstanceOf(InferenceException.class, NativeStatus.exceptionFor(Status.CUDA, "m"));
    assertInstanceOf(InferenceException.class, NativeStatus.exceptionFor(Status.INTERNAL, "m"));
    assertInstanceOf(IllegalArgumentException.class, NativeStatus.exceptionFor(Status.INVALID_ARGUMENT, "m"));
    assertEquals(Status.MODEL_FORMAT,
        ((MaskFormerException) NativeStatus.exceptionFor(Status.MODEL_FORMAT, "m")).status());
  }
}
