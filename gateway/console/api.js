// @ts-check
// The REST API as the console uses it: the client library's (client/api.js, the same for apps
// and for this page), and what only a page picking files needs: a résumé file's media type.

export { Api, ApiError } from './client/api.js';

/** The résumé files the server reads, by media type. */
export const RESUME_TYPES = {
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  md: 'text/markdown',
  markdown: 'text/markdown',
  txt: 'text/plain',
};

/** Largest résumé file the server takes, in bytes (2 MiB). */
export const MAX_RESUME_BYTES = 2 * 1024 * 1024;

/**
 * The media type to send a file as: its own when the server reads it, else by its extension
 * (browsers give Markdown files no type, or `text/x-markdown`); null when it is not one.
 * @param {{name: string, type: string}} file
 * @returns {string|null}
 */
export function resumeType(file) {
  const types = /** @type {string[]} */ (Object.values(RESUME_TYPES));
  if (types.includes(file.type)) return file.type;
  const extension = file.name.includes('.') ? file.name.split('.').pop()?.toLowerCase() ?? '' : '';
  return /** @type {Record<string, string>} */ (RESUME_TYPES)[extension] ?? null;
}

