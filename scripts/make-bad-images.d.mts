/** types for scripts/make-bad-images.mjs, for the tests that import it */
export declare const defaultOutDir: string;
export declare function pngBomb(width?: number, height?: number): Buffer;
export declare function svgWithExternalImage(href: string): Buffer;
export declare function makeBadImages(): Promise<Map<string, Buffer>>;
