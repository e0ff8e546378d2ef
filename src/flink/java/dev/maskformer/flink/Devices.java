// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.Device;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import org.apache.flink.api.common.externalresource.ExternalResourceInfo;

/** Which device a subtask's model runs on, from the GPUs Flink gave its TaskManager. */
public final class Devices {
  private Devices() {}

  /**
   * The CUDA device of Flink's GPU resource infos (their {@code index} property, as Flink's GPU
   * driver reports it) for this subtask: subtasks spread over the TaskManager's GPUs by subtask
   * index; with no GPU infos, the CPU.
   *
   * @throws IllegalArgumentException a GPU info without a numeric {@code index}
   */
  public static Device choose(Collection<ExternalResourceInfo> gpus, int subtaskIndex) {
    if (gpus == null || gpus.isEmpty()) {
      return Device.CPU;
    }
    List<Integer> indices = gpus.stream().map(Devices::index).sorted().distinct().toList();
    return Device.cuda(indices.get(Math.floorMod(subtaskIndex, indices.size())));
  }

  private static int index(ExternalResourceInfo info) {
    Optional<String> text = info.getProperty("index");
    try {
      return Integer.parseInt(text.orElseThrow().trim());
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("Flink GPU resource without a numeric 'index' property: "
          + text.orElse("(none)") + " (keys " + info.getKeys() + ")", e);
    }
  }
}
