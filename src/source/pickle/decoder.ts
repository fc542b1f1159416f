import { open, type FileHandle } from 'node:fs/promises';
import { MigrateError } from '../../errors.js';
import type { StoredVector } from '../types.js';
import { pickleError } from './fail.js';
import { resolveLimits, type PickleLimits } from './limits.js';
import { matrixRows, validateSlice } from './matrix.js';
import type { NumpyContext } from './numpy.js';
import { ByteReader } from './reader.js';
import { scanPickle } from './scan.js';
import { VectorChecker, type PickleDtype, type PickleShape } from './shape.js';
import { describe, isA } from './values.js';
import { newStats, PickleVM, type DecodeStats } from './vm.js';

export interface PickleInfo {
  protocol: number;
  shape: PickleShape;
  dtype: PickleDtype;
  count: number;
  dimensions: number | null;
}

export interface DecoderOptions {
  limits?: Partial<PickleLimits> | undefined;
  /** Read size; tests use tiny chunks to put every boundary inside an opcode. */
  chunkBytes?: number;
}

async function openFile(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new MigrateError('E_MISSING_FILE', `vectors.pkl not found at ${path}`, { cause: err });
    throw pickleError(`cannot be opened: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * One decoding of one vectors.pkl: a scan pass, then the VM pass that yields vectors. After the
 * last vector, `info` describes the file and `stats` holds the structural counters.
 *
 * Everything that makes a file unreadable or unsafe (truncation, bad opcodes, declared lengths
 * past the end, globals outside the allow-list, stack and memo limits) is found by the scan,
 * before the first vector is yielded. Problems with the values (ragged, empty or non-finite
 * vectors, unsupported dtypes or shapes, size and nesting limits) surface when the decoder
 * reaches them, possibly after earlier vectors were yielded: a consumer must treat any error as
 * the whole store failing (or call inspectPickledVectors first).
 */
export class PickleDecoder {
  readonly stats: DecodeStats = newStats();
  info: PickleInfo | null = null;
  private readonly limits: PickleLimits;
  private readonly chunkBytes: number;

  constructor(
    private readonly path: string,
    options: DecoderOptions = {},
  ) {
    this.limits = resolveLimits(options.limits);
    this.chunkBytes = options.chunkBytes ?? 1 << 20;
  }

  async *vectors(): AsyncGenerator<StoredVector> {
    const file = await openFile(this.path);
    try {
      const { size } = await file.stat();
      if (size === 0) throw pickleError('is empty (0 bytes)');
      const scan = await scanPickle(new ByteReader(file, size, this.chunkBytes), this.limits);

      const reader = new ByteReader(file, size, this.chunkBytes);
      const checker = new VectorChecker(this.limits.maxDimensions);
      const numpy: NumpyContext = {
        maxDimensions: this.limits.maxDimensions,
        validateSlice: (slice) => validateSlice(slice, reader, this.chunkBytes),
      };
      const vm = new PickleVM(reader, scan, this.limits, checker, numpy, this.stats);
      while (await vm.run()) yield* vm.takePending();

      // STOP has run. A top-level list has been streamed already; a 2-D array is streamed now.
      const result = vm.result ?? null;
      if (isA(result, 'ndarray') && result.state?.shape.length === 2) {
        yield* matrixRows(result.state, reader, checker, { chunkBytes: this.chunkBytes, maxBlockBytes: this.limits.maxMatrixBlockBytes, stats: this.stats });
      } else if (isA(result, 'ndarray') && result.state?.shape.length === 1) {
        throw pickleError(`holds a single 1-D numpy array (one vector of ${result.state.shape[0]} values); expected a list of vectors or a 2-D array`);
      } else if (!isA(result, 'toplist')) {
        throw pickleError(`holds ${describe(result)}; expected a list of vectors or a 2-D numpy array`);
      }
      this.info = {
        protocol: scan.protocol,
        shape: checker.shape,
        dtype: checker.dtypeSummary,
        count: checker.count,
        dimensions: checker.dimensions,
      };
    } finally {
      await file.close();
    }
  }
}
