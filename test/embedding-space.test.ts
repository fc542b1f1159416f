import { describe, expect, it } from 'vitest';
import {
  keptSpace,
  modelSpace,
  parseSpace,
  projectedSpace,
  serializeSpace,
  truncatedSpace,
  truncationOf,
  type EmbeddingSpace,
  type ModelIdentity,
} from '../src/transform/embeddingSpace.js';

// Existing tables (embedding_fingerprint), ledgers (migration_stores) and re-embedding jobs hold
// these strings and compare new ones with them as text. They were produced by the code before
// embeddingSpace.ts (vectorize.ts fingerprintOf over the vectorizers' fingerprints): never change them.
const FP32: ModelIdentity = { model: 'Xenova/all-MiniLM-L6-v2', modelSha256: 'a'.repeat(64), onnxFile: 'onnx/model.onnx', pooling: 'mean', normalized: true, dimensions: 384, maxSeqLength: 256 };
const Q8: ModelIdentity = { ...FP32, modelSha256: 'b'.repeat(64), onnxFile: 'onnx/model_quantized.onnx', dtype: 'q8' };
const BARE: ModelIdentity = { model: '/models/plain', modelSha256: null, onnxFile: null, pooling: 'cls', normalized: false, dimensions: 48 };
const PCA = { id: '0f8d7c6b-5a49-4382-9170-e6d5c4b3a291' };

const PINNED: [string, EmbeddingSpace, string][] = [
  ['fp32 model', modelSpace(FP32, 'vector'), '{"dimensions":384,"maxSeqLength":256,"model":"Xenova/all-MiniLM-L6-v2","modelSha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","normalized":true,"onnxFile":"onnx/model.onnx","pooling":"mean","vectorType":"vector"}'],
  ['q8 model', modelSpace(Q8, 'vector'), '{"dimensions":384,"dtype":"q8","maxSeqLength":256,"model":"Xenova/all-MiniLM-L6-v2","modelSha256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","normalized":true,"onnxFile":"onnx/model_quantized.onnx","pooling":"mean","vectorType":"vector"}'],
  ['model without a hashable file or max_seq_length, halfvec', modelSpace(BARE, 'halfvec'), '{"dimensions":48,"model":"/models/plain","modelSha256":null,"normalized":false,"onnxFile":null,"pooling":"cls","vectorType":"halfvec"}'],
  ['kept vectors', keptSpace('stored', 1536, 'vector'), '{"dimensions":1536,"kept":true,"model":"stored","vectorType":"vector"}'],
  ['PCA-reduced model', projectedSpace(modelSpace(FP32, 'vector'), { ...PCA, targetDimensions: 128 }), '{"dimensions":128,"maxSeqLength":256,"model":"Xenova/all-MiniLM-L6-v2","modelSha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","normalized":true,"onnxFile":"onnx/model.onnx","pcaModelId":"0f8d7c6b-5a49-4382-9170-e6d5c4b3a291","pooling":"mean","sourceDimensions":384,"vectorType":"vector"}'],
  ['PCA-reduced kept vectors, halfvec', projectedSpace(keptSpace('openai', 3072, 'halfvec'), { ...PCA, targetDimensions: 2000 }), '{"dimensions":2000,"kept":true,"model":"openai","pcaModelId":"0f8d7c6b-5a49-4382-9170-e6d5c4b3a291","sourceDimensions":3072,"vectorType":"halfvec"}'],
  ['truncated model', truncatedSpace(modelSpace(FP32, 'vector'), 256), '{"dimensions":256,"maxSeqLength":256,"model":"Xenova/all-MiniLM-L6-v2","modelSha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","normalized":true,"onnxFile":"onnx/model.onnx","pooling":"mean","reduction":"truncate","sourceDimensions":384,"vectorType":"vector"}'],
  ['truncated kept vectors', truncatedSpace(keptSpace('openai', 3072, 'vector'), 2000), '{"dimensions":2000,"kept":true,"model":"openai","reduction":"truncate","sourceDimensions":3072,"vectorType":"vector"}'],
  ['truncated q8 model, halfvec', truncatedSpace(modelSpace(Q8, 'halfvec'), 128), '{"dimensions":128,"dtype":"q8","maxSeqLength":256,"model":"Xenova/all-MiniLM-L6-v2","modelSha256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","normalized":true,"onnxFile":"onnx/model_quantized.onnx","pooling":"mean","reduction":"truncate","sourceDimensions":384,"vectorType":"halfvec"}'],
];

describe('the embedding space', () => {
  it.each(PINNED)('serializes the %s byte for byte as rows and ledgers already hold it', (_name, space, stored) => {
    expect(serializeSpace(space)).toBe(stored);
  });

  it.each(PINNED)('parses the %s back to the same space', (_name, space, stored) => {
    expect(parseSpace(serializeSpace(space))).toEqual(space);
    expect(parseSpace(stored)).toEqual(space);
  });

  it('parses only the canonical form: anything else is not a space it wrote', () => {
    const fp32 = serializeSpace(modelSpace(FP32, 'vector'));
    expect(parseSpace(null)).toBeNull();
    expect(parseSpace('not json')).toBeNull();
    expect(parseSpace('[1]')).toBeNull();
    expect(parseSpace('{"model":"new"}')).toBeNull();
    expect(parseSpace(JSON.stringify(JSON.parse(fp32), null, 1))).toBeNull();
    expect(parseSpace(fp32.replace('"vectorType":"vector"', '"vectorType":"vector","extra":1'))).toBeNull();
    expect(parseSpace(fp32.replace('"pooling":"mean"', '"pooling":"weighted"'))).toBeNull();
    expect(parseSpace(fp32.replace('"dimensions":384,', '"dimensions":384,"dtype":"q7",'))).toBeNull();
  });

  it('reads a truncation back from the stored text alone (query and verify shorten their vectors by it)', () => {
    expect(truncationOf(serializeSpace(truncatedSpace(modelSpace(FP32, 'vector'), 256)))).toEqual({ sourceDimensions: 384, dimensions: 256 });
    expect(truncationOf(serializeSpace(projectedSpace(modelSpace(FP32, 'vector'), { ...PCA, targetDimensions: 128 })))).toBeNull();
  });
});
