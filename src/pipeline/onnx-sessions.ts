import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InferenceSession, listSupportedBackends } from 'onnxruntime-node';
import { GlimpseError } from '../errors.js';
import type { OnnxGraphPaths } from './model-directory.js';

/** What the pipeline uses of an onnxruntime session (fakes in tests implement just this). */
export type OnnxSession = Pick<InferenceSession, 'inputNames' | 'outputNames' | 'run' | 'release'>;

export interface LlavaSessions {
  vision: OnnxSession;
  embed: OnnxSession;
  decoder: OnnxSession;
}

export interface SessionOptions {
  device: 'cpu' | 'cuda';
  /** intra-op threads; 0 = onnxruntime's default */
  threads: number;
}

export const cudaInstallHint =
  "onnxruntime-node's CUDA build is not installed. Install it with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm install` " +
  '(needs CUDA 12 and cuDNN 9 on the host), or set GLIMPSE_DEVICE=cpu.';

function deviceUnavailable(detail: string, cause?: unknown): GlimpseError {
  return new GlimpseError('glimpse_model_device_unavailable', `${cudaInstallHint} (${detail})`, {
    cause,
    userMessage: 'The model could not start on the GPU.',
  });
}

function sessionOptions(options: SessionOptions): InferenceSession.SessionOptions {
  return {
    executionProviders: options.device === 'cuda' ? ['cuda'] : ['cpu'],
    graphOptimizationLevel: 'all',
    // errors only: a missing CUDA library is reported by us, with the fix
    logSeverityLevel: 3,
    ...(options.threads > 0 ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
  };
}

async function createSession(path: string, options: SessionOptions): Promise<InferenceSession> {
  try {
    return await InferenceSession.create(path, sessionOptions(options));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (options.device === 'cuda' && /cuda|provider|shared library/i.test(message)) {
      throw deviceUnavailable(message.split('\n')[0] ?? message, error);
    }
    throw new GlimpseError('glimpse_model_invalid', `cannot load ${path}: ${message}`, {
      cause: error,
      userMessage: 'The model is not installed correctly.',
    });
  }
}

/** Where onnxruntime-node keeps its native libraries (the CUDA provider is downloaded there). */
function nativeLibraryDir(): string | undefined {
  try {
    const main = createRequire(import.meta.url).resolve('onnxruntime-node');
    return join(dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

/** Creates the three sessions once, at start; CUDA asked for but absent fails here, with the fix. */
export async function createLlavaSessions(
  paths: OnnxGraphPaths,
  options: SessionOptions,
): Promise<LlavaSessions> {
  if (options.device === 'cuda' && !listSupportedBackends().some((backend) => backend.name === 'cuda')) {
    throw deviceUnavailable('this onnxruntime-node build lists no cuda backend');
  }
  const libraries = nativeLibraryDir();
  if (
    options.device === 'cuda' &&
    process.platform === 'linux' &&
    libraries &&
    existsSync(libraries) &&
    !existsSync(join(libraries, 'libonnxruntime_providers_cuda.so'))
  ) {
    throw deviceUnavailable(`libonnxruntime_providers_cuda.so is not in ${libraries}`);
  }
  const sessions: InferenceSession[] = [];
  try {
    for (const path of [paths.visionEncoder, paths.embedTokens, paths.decoder]) {
      sessions.push(await createSession(path, options));
    }
  } catch (error) {
    await Promise.all(sessions.map((session) => session.release()));
    throw error;
  }
  const [vision, embed, decoder] = sessions as [InferenceSession, InferenceSession, InferenceSession];
  return { vision, embed, decoder };
}
