import { MigrateError } from '../../errors.js';
import { JsLinAlg, OrtLinAlg, loadOnnxRuntime, onnxRuntimeLoadError, type LinAlg } from './linalg.js';
import type { PcaEngine } from './types.js';

/**
 * Picks the product engine. `worthNative` says whether the problem is big enough for onnxruntime's
 * per-call overhead (tens of microseconds, plus session creation) to pay off.
 */
export async function openLinAlg(
  engine: PcaEngine,
  worthNative: boolean,
  threads: number | undefined,
): Promise<{ la: LinAlg; note?: string }> {
  if (engine === 'js' || (engine === 'auto' && !worthNative)) return { la: new JsLinAlg() };
  const ort = await loadOnnxRuntime();
  if (ort) return { la: new OrtLinAlg(ort, threads ? { threads } : {}) };
  const reason = onnxRuntimeLoadError() || 'module has no InferenceSession';
  if (engine === 'onnxruntime') {
    throw new MigrateError('E_CONFIG', `onnxruntime-node cannot be loaded for the PCA engine: ${reason}`);
  }
  return {
    la: new JsLinAlg(),
    note: `onnxruntime-node could not be loaded (${reason}); products ran in plain JavaScript, which is one to two orders of magnitude slower`,
  };
}
