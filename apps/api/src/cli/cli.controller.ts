import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve, sep } from 'node:path';

import { Controller, Get, Inject, NotFoundException, Param, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';

import { ApiConfig } from '../config/api-config';

const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

/** `GET /cli/<file>`: the cf CLI plugin binaries from `cli.binaries_dir` (plain names only; no traversal). */
@Controller('cli')
export class CliController {
  constructor(@Inject(ApiConfig) private readonly config: ApiConfig) {}

  @Get(':file')
  async download(@Param('file') file: string, @Res() reply: FastifyReply): Promise<void> {
    const dir = this.config.cli.binaries_dir;
    if (dir === undefined || !FILE_NAME.test(file)) throw notFound(file);
    const root = resolve(dir);
    const path = resolve(root, file);
    if (!path.startsWith(root + sep)) throw notFound(file);
    const info = await stat(path).catch(() => undefined);
    if (info === undefined || !info.isFile()) throw notFound(file);
    await reply
      .header('content-type', 'application/octet-stream')
      .header('content-length', info.size)
      .header('content-disposition', `attachment; filename="${file}"`)
      .send(createReadStream(path));
  }
}

function notFound(file: string): NotFoundException {
  return new NotFoundException(`no CLI file '${file.slice(0, 100)}'`);
}
