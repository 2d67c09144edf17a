/** names people give images, including formats Glimpse refuses (so the refusal is said, not silent) */
const imageExtension = /\.(png|jpe?g|jfif|webp|gif|svgz?|tiff?|heic|heif|avif|bmp|jxl)$/i;

/**
 * Whether an attachment is meant as an image: the platform's declared type says `image/…`, or its
 * name has an image extension (declared types are often wrong: `application/octet-stream` on a
 * PNG). Every such file is downloaded and its bytes decide — an HEIC photo or an SVG gets a refusal
 * that names it instead of being ignored, and a mislabelled PNG is read.
 */
export function isImageAttachment(name: string | undefined, mediaType: string | undefined): boolean {
  return (mediaType ?? '').toLowerCase().startsWith('image/') || imageExtension.test(name ?? '');
}
