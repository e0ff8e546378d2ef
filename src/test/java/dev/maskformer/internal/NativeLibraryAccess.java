// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import java.nio.file.Path;

/** What the loader chose, for tests in other packages. */
public final class NativeLibraryAccess {
  private NativeLibraryAccess() {}

  /** The classifier of the shim this JVM loaded from the class path, or null. */
  public static String loadedClassifier() {
    NativeLibrary.ensureLoaded();
    return NativeLibrary.shimClassifier();
  }

  /** The shim file this JVM loaded. */
  public static Path loadedShim() {
    NativeLibrary.ensureLoaded();
    return NativeLibrary.shimFile();
  }
}
