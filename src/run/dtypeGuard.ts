import { MigrateError } from '../errors.js';
import type { ReadRepository } from '../sink/readRepository.js';
import { storedFields, type ModelIdentity } from '../transform/embeddingSpace.js';

/**
 * A table never mixes dtypes: a model's q8 vectors are near its fp32 vectors but not equal, so
 * rows of both in one index would rank by which file embedded them as much as by meaning. Refused
 * (E_MODEL) before anything is read or written when the table holds model-made rows of another
 * dtype (fingerprints without one are fp32; kept vectors and application rows have none).
 */
export async function checkTableDtype(reads: Pick<ReadRepository, 'embeddingFingerprints'>, table: string, identity: ModelIdentity): Promise<void> {
  const dtype = identity.dtype ?? 'fp32';
  const others = new Map<string, number>();
  for (const f of await reads.embeddingFingerprints({ table })) {
    const fields = storedFields(f.fingerprint);
    if (fields === null || fields['kept'] === true) continue;
    const recorded = typeof fields['dtype'] === 'string' ? fields['dtype'] : 'fp32';
    if (recorded !== dtype) others.set(recorded, (others.get(recorded) ?? 0) + f.rows);
  }
  const [first] = others.keys();
  if (first === undefined) return;
  const held = [...others].map(([d, rows]) => `${rows} rows of dtype ${d}`).join(', ');
  throw new MigrateError(
    'E_MODEL',
    `table ${table} holds ${held}; this run embeds with dtype ${dtype}, and one table never mixes dtypes: pass --dtype ${first}, move the whole table with reembed --model ${identity.model} --dtype ${dtype}, or load into another --table`,
  );
}
