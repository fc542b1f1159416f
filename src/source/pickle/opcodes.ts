/**
 * The pickle opcodes, as Python's `pickletools` documents them (protocols 0 to 5).
 * Every opcode is listed, including the ones the decoder refuses, so an error can name it.
 */
export const OP = {
  MARK: 0x28, // (
  STOP: 0x2e, // .
  POP: 0x30, // 0
  POP_MARK: 0x31, // 1
  DUP: 0x32, // 2
  FLOAT: 0x46, // F  text float line
  INT: 0x49, // I  text int line (also I00 / I01 for False / True)
  BININT: 0x4a, // J  int32 LE
  BININT1: 0x4b, // K  uint8
  LONG: 0x4c, // L  text long line
  BININT2: 0x4d, // M  uint16 LE
  NONE: 0x4e, // N
  PERSID: 0x50, // P
  BINPERSID: 0x51, // Q
  REDUCE: 0x52, // R
  STRING: 0x53, // S  quoted text line
  BINSTRING: 0x54, // T  int32 length
  SHORT_BINSTRING: 0x55, // U  uint8 length
  UNICODE: 0x56, // V  raw-unicode-escape text line
  BINUNICODE: 0x58, // X  uint32 length, UTF-8
  APPEND: 0x61, // a
  BUILD: 0x62, // b
  GLOBAL: 0x63, // c  "module\nname\n"
  DICT: 0x64, // d
  APPENDS: 0x65, // e
  GET: 0x67, // g  text index line
  BINGET: 0x68, // h
  INST: 0x69, // i
  LONG_BINGET: 0x6a, // j
  LIST: 0x6c, // l
  OBJ: 0x6f, // o
  PUT: 0x70, // p  text index line
  BINPUT: 0x71, // q
  LONG_BINPUT: 0x72, // r
  SETITEM: 0x73, // s
  TUPLE: 0x74, // t
  SETITEMS: 0x75, // u
  EMPTY_DICT: 0x7d, // }
  EMPTY_LIST: 0x5d, // ]
  EMPTY_TUPLE: 0x29, // )
  BINFLOAT: 0x47, // G  float64 big-endian
  BINBYTES: 0x42, // B  uint32 length
  SHORT_BINBYTES: 0x43, // C  uint8 length
  PROTO: 0x80,
  NEWOBJ: 0x81,
  EXT1: 0x82,
  EXT2: 0x83,
  EXT4: 0x84,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  BYTEARRAY8: 0x96,
  NEXT_BUFFER: 0x97,
  READONLY_BUFFER: 0x98,
} as const;

/** Protocol that introduced each opcode; the highest one seen stands in for a missing PROTO. */
const INTRODUCED_IN: Record<string, number> = {
  BINBYTES: 3,
  SHORT_BINBYTES: 3,
  PROTO: 2,
  NEWOBJ: 2,
  EXT1: 2,
  EXT2: 2,
  EXT4: 2,
  TUPLE1: 2,
  TUPLE2: 2,
  TUPLE3: 2,
  NEWTRUE: 2,
  NEWFALSE: 2,
  LONG1: 2,
  LONG4: 2,
  SHORT_BINUNICODE: 4,
  BINUNICODE8: 4,
  BINBYTES8: 4,
  EMPTY_SET: 4,
  ADDITEMS: 4,
  FROZENSET: 4,
  NEWOBJ_EX: 4,
  STACK_GLOBAL: 4,
  MEMOIZE: 4,
  FRAME: 4,
  BYTEARRAY8: 5,
  NEXT_BUFFER: 5,
  READONLY_BUFFER: 5,
  // Protocol 1 opcodes (binary forms); everything else is protocol 0.
  BININT: 1,
  BININT1: 1,
  BININT2: 1,
  BINPERSID: 1,
  BINSTRING: 1,
  SHORT_BINSTRING: 1,
  BINUNICODE: 1,
  APPENDS: 1,
  BINGET: 1,
  LONG_BINGET: 1,
  OBJ: 1,
  BINPUT: 1,
  LONG_BINPUT: 1,
  SETITEMS: 1,
  EMPTY_DICT: 1,
  EMPTY_LIST: 1,
  EMPTY_TUPLE: 1,
  BINFLOAT: 1,
  POP_MARK: 1,
};

const NAMES: string[] = [];
const PROTOCOLS: number[] = [];
for (const [name, code] of Object.entries(OP)) {
  NAMES[code] = name;
  PROTOCOLS[code] = INTRODUCED_IN[name] ?? 0;
}

/** `BINFLOAT`, or `byte 0xff` for a byte that is no opcode at all. */
export function opName(code: number): string {
  return NAMES[code] ?? `byte 0x${code.toString(16).padStart(2, '0')}`;
}

/** The protocol that introduced `code`, or -1 when it is not an opcode. */
export function opProtocol(code: number): number {
  return PROTOCOLS[code] ?? -1;
}

/** The highest protocol Python writes and reads today. */
export const HIGHEST_PROTOCOL = 5;
