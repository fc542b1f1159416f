import type { DatabaseConfig } from '../config.js';
import type { TableDiagnosis } from '../sink/types.js';
import { storedFields } from '../transform/embeddingSpace.js';
import { withSink } from './resources.js';

export interface DoctorConfig {
  database: DatabaseConfig;
  table: string;
}

export interface DoctorResult {
  diagnosis: TableDiagnosis;
  /** One line per problem found; empty when the table is healthy. */
  problems: string[];
}

/** Whether every fingerprint promises unit-length vectors (a model with normalization, no PCA projection). */
function promisesUnitLength(fingerprints: TableDiagnosis['fingerprints']): boolean {
  return fingerprints.every(({ fingerprint }) => {
    const f = storedFields(fingerprint);
    return f !== null && f['normalized'] === true && (f['pcaModelId'] ?? null) === null;
  });
}

/**
 * Checks a table for what silently ruins search: vectors of more than one model or setting in one
 * index, zero vectors, vectors that should be unit length but are not, duplicate texts per user,
 * empty texts. Reads only.
 */
export function runDoctor(config: DoctorConfig): Promise<DoctorResult> {
  return withSink(config.database, { readOnly: true, purpose: 'doctor' }, async (sink) => {
    const d = await sink.reads.diagnose({ table: config.table });
    const problems: string[] = [];
    if (d.fingerprints.length > 1) {
      const list = d.fingerprints.map((f) => `${f.rows} rows: ${f.fingerprint ?? '(no fingerprint: loaded before fingerprints were recorded)'}`).join('; ');
      problems.push(`${d.fingerprints.length} embedding fingerprints share one index, so search mixes vector spaces (${list}); re-embed the table with one model`);
    }
    if (d.zeroVectors.rows > 0) problems.push(`${d.zeroVectors.rows} zero vectors (no direction: cosine search cannot rank them), e.g. ${d.zeroVectors.examples.join(', ')}`);
    if (d.nonNormalized.rows > 0 && promisesUnitLength(d.fingerprints)) {
      problems.push(`${d.nonNormalized.rows} vectors are not unit length although the model normalizes (|norm - 1| > ${d.nonNormalized.tolerance}), e.g. ${d.nonNormalized.examples.join(', ')}`);
    }
    if (d.duplicateTexts.groups > 0) {
      const e = d.duplicateTexts.examples.map((x) => `${x.userId} x${x.rows}`).join(', ');
      problems.push(`${d.duplicateTexts.groups} texts are stored more than once for the same user (${d.duplicateTexts.rows} rows), e.g. ${e}`);
    }
    if (d.missingText.rows > 0) problems.push(`${d.missingText.rows} rows have an empty text, e.g. ${d.missingText.examples.join(', ')}`);
    return { diagnosis: d, problems };
  });
}
