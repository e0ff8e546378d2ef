// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

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
    assertInstanceOf(ModelLoadException.class, NativeCalls.exception(Status.IO, "m", true));
    assertInstanceOf(ModelLoadException.class, NativeCalls.exception(Status.MODEL_FORMAT, "m", true));
    assertInstanceOf(UnsupportedDeviceException.class, NativeCalls.exception(Status.UNSUPPORTED, "m", false));
    assertInstanceOf(NativeOutOfMemoryException.class, NativeCalls.exception(Status.OUT_OF_MEMORY, "m", false));
    assertInstanceOf(InferenceException.class, NativeCalls.exception(Status.CUDA, "m", false));
    assertInstanceOf(InferenceException.class, NativeCalls.exception(Status.INTERNAL, "m", false));
    assertInstanceOf(InferenceException.class, NativeCalls.exception(Status.NOT_FINITE, "m", false));
    assertInstanceOf(IllegalArgumentException.class, NativeCalls.exception(Status.INVALID_ARGUMENT, "m", false));
    assertEquals(Status.MODEL_FORMAT,
        ((MaskFormerException) NativeCalls.exception(Status.MODEL_FORMAT, "m", true)).status());
    // a model that breaks its output contract on a call (after loading): the call failed, status kept
    var contract = assertInstanceOf(InferenceException.class, NativeCalls.exception(Status.MODEL_FORMAT, "m", false));
    assertEquals(Status.MODEL_FORMAT, contract.status());
  }
}
