// The package's `exports` map has no "types" condition, so under NodeNext resolution TypeScript cannot
// find its bundled index.d.ts. This declares the small part of the lezer API that parse.ts uses.
declare module "@prometheus-io/lezer-promql" {
  export interface LezerNodeType {
    readonly name: string;
    readonly isError: boolean;
  }
  export interface LezerSyntaxNode {
    readonly name: string;
    readonly type: LezerNodeType;
    readonly from: number;
    readonly to: number;
    readonly firstChild: LezerSyntaxNode | null;
    readonly nextSibling: LezerSyntaxNode | null;
  }
  export interface LezerTree {
    readonly topNode: LezerSyntaxNode;
  }
  export interface LezerParser {
    parse(input: string): LezerTree;
  }
  export const parser: LezerParser;
}
