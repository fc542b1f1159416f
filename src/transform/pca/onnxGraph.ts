/**
 * Encodes tiny single-purpose ONNX models (a Gemm, a product with a constant matrix) as
 * protobuf bytes, so onnxruntime-node can run them from memory with `InferenceSession.create(bytes)`.
 *
 * Hand-written rather than built with onnx-proto because onnx-proto is only a dev dependency and
 * these graphs need a handful of fields: ModelProto, GraphProto, NodeProto, AttributeProto and
 * ValueInfoProto with symbolic dimensions. Field numbers are those of onnx/onnx.proto (IR 8).
 */

export type OnnxElemType = 'float32' | 'float64';

export interface GraphNode {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  /** Integer attributes are written as INT, everything else as FLOAT. */
  attrs?: Readonly<Record<string, { int: number } | { float: number }>>;
}

/** A constant tensor baked into the model, so onnxruntime can pre-pack it once per session. */
export interface Initializer {
  name: string;
  dims: readonly number[];
  data: Float32Array | Float64Array;
}

export interface GraphSpec {
  elemType: OnnxElemType;
  /** Every input and output is a tensor of this rank with symbolic (per-run) dimensions. */
  inputs: readonly { name: string; rank: number }[];
  outputs: readonly { name: string; rank: number }[];
  nodes: readonly GraphNode[];
  initializers?: readonly Initializer[];
}

const IR_VERSION = 8;
const OPSET = 17;
const DATA_TYPE: Record<OnnxElemType, number> = { float32: 1, float64: 11 };
const ATTR_FLOAT = 1;
const ATTR_INT = 2;

/**
 * A protobuf message under construction. Bytes are kept as a list of chunks so that large raw
 * payloads (an initializer of 24 MB) and nested messages are appended without being copied.
 */
class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private pending: number[] = [];
  private length = 0;

  private flush(): void {
    if (this.pending.length > 0) {
      this.parts.push(Uint8Array.from(this.pending));
      this.pending = [];
    }
  }

  private byte(b: number): void {
    this.pending.push(b);
    this.length++;
  }

  private varint(value: number): void {
    // Every value written here is a non-negative integer below 2^53 (tags, lengths, dims, flags).
    let v = value;
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }

  private key(field: number, wireType: 0 | 2 | 5): void {
    this.varint(field * 8 + wireType);
  }

  get byteLength(): number {
    return this.length;
  }

  int(field: number, value: number): this {
    this.key(field, 0);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.key(field, 5);
    const buf = new DataView(new ArrayBuffer(4));
    buf.setFloat32(0, value, true);
    for (let i = 0; i < 4; i++) this.byte(buf.getUint8(i));
    return this;
  }

  raw(field: number, data: Uint8Array): this {
    this.key(field, 2);
    this.varint(data.length);
    this.flush();
    this.parts.push(data);
    this.length += data.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.raw(field, new TextEncoder().encode(value));
  }

  message(field: number, nested: ProtoWriter): this {
    this.key(field, 2);
    this.varint(nested.byteLength);
    this.flush();
    nested.flush();
    this.parts.push(...nested.parts);
    this.length += nested.byteLength;
    return this;
  }

  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const part of this.parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** ONNX raw_data is little-endian whatever the host. */
function littleEndianBytes(data: Float32Array | Float64Array): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN_HOST) return bytes;
  const swapped = new Uint8Array(bytes.length);
  const width = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < bytes.length; i += width) for (let j = 0; j < width; j++) swapped[i + j] = bytes[i + width - 1 - j]!;
  return swapped;
}

function tensorProto(init: Initializer): ProtoWriter {
  const w = new ProtoWriter();
  for (const dim of init.dims) w.int(1, dim);
  return w
    .int(2, DATA_TYPE[init.data instanceof Float64Array ? 'float64' : 'float32'])
    .string(8, init.name)
    .raw(9, littleEndianBytes(init.data));
}

function valueInfo(name: string, rank: number, elemType: OnnxElemType): ProtoWriter {
  const shape = new ProtoWriter();
  // dim_param (field 2): a symbolic size, so one session serves every shape.
  for (let i = 0; i < rank; i++) shape.message(1, new ProtoWriter().string(2, `${name}_d${i}`));
  const tensorType = new ProtoWriter().int(1, DATA_TYPE[elemType]).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

function nodeProto(node: GraphNode, index: number): ProtoWriter {
  const w = new ProtoWriter();
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, `n${index}_${node.op}`).string(4, node.op);
  for (const [name, value] of Object.entries(node.attrs ?? {})) {
    const attr = new ProtoWriter().string(1, name);
    if ('int' in value) attr.int(3, value.int).int(20, ATTR_INT);
    else attr.float(2, value.float).int(20, ATTR_FLOAT);
    w.message(5, attr);
  }
  return w;
}

export function encodeModel(spec: GraphSpec): Uint8Array {
  const graph = new ProtoWriter();
  spec.nodes.forEach((node, i) => graph.message(1, nodeProto(node, i)));
  graph.string(2, 'pca');
  for (const init of spec.initializers ?? []) graph.message(5, tensorProto(init));
  for (const input of spec.inputs) graph.message(11, valueInfo(input.name, input.rank, spec.elemType));
  for (const output of spec.outputs) graph.message(12, valueInfo(output.name, output.rank, spec.elemType));
  return new ProtoWriter()
    .int(1, IR_VERSION)
    .string(2, 'pgvector-migrate')
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, '').int(2, OPSET))
    .finish();
}
