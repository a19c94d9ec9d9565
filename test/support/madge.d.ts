// The part of madge's JavaScript API that test/structure.test.ts uses (madge ships no types).
declare module "madge" {
  interface MadgeConfig {
    fileExtensions?: string[];
    tsConfig?: string;
  }
  interface MadgeResult {
    /** Each file and the files it imports, relative to the base directory. */
    obj(): Record<string, string[]>;
    /** The import cycles, each as the files along it. */
    circular(): string[][];
  }
  export default function madge(path: string, config?: MadgeConfig): Promise<MadgeResult>;
}
