// `parley audit migrate --from STORE --to STORE`: copy the audit trail into an empty store,
// verify the copy, and print both heads (they must be equal).
import { MigrateError, migrateLog } from '../core/audit/migrate.js';
import { verifyLogParallel } from '../core/audit/parallel-verify.js';
import type { AuditHead } from '../core/store.js';
import { CliError, type CliIO, EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK } from './io.js';
import { describeSpec, type OpenedLog, openStoreSpec, parseStoreSpec, STORE_FORMS } from './store-spec.js';

export const MIGRATE_HELP = `Usage: parley audit migrate --from STORE --to STORE [--page N]

Copies the audit trail into an empty store: the same records, seqs and hashes, a trimmed
trail's anchor and the records legal holds kept below it. The copy is verified and both
heads are printed; they must be equal. Records appended to the source after the copy
started are not copied: stop the gateways that write to it first.

STORE is one of:
  ${STORE_FORMS.replace(/\n/g, '\n  ')}
A JSONL file is an export (parley audit export --format jsonl): read as a source, the
chain is the run of consecutive records that ends it, the records before it are held
ones, and the anchor is what the run's first record follows. It keeps no head or anchor
apart from its records, so a record deleted from it reads as a trim (the output names
the anchor): compare the head with one kept elsewhere.

Exit 0 when the copy verifies with the source's head; 1 when it does not, or a store
failed during the copy; 2 on bad input or when the destination is not empty.

Options:
  --from STORE           the store to copy from
  --to STORE             the empty store to copy into
  --page N               records per read and write (default 1000)
  -h, --help             this help
`;

const headText = (h: AuditHead | null): string => (h ? `${h.seq} ${h.hash}` : 'none (empty trail)');

export async function migrateCommand(
  argv: string[],
  io: CliIO,
  parse: (argv: string[]) => Record<string, unknown>,
): Promise<number> {
  const values = parse(argv);
  const fromText = values.from;
  const toText = values.to;
  if (typeof fromText !== 'string' || typeof toText !== 'string')
    throw new CliError(`both --from and --to are needed\n\n${MIGRATE_HELP}`);
  const page = values.page === undefined ? 1000 : Number(values.page);
  if (!Number.isInteger(page) || page < 1 || page > 100_000)
    throw new CliError(`--page must be a whole number from 1 to 100000 (got "${String(values.page)}")`);
  const fromSpec = parseStoreSpec(fromText, '--from', io.cwd);
  const toSpec = parseStoreSpec(toText, '--to', io.cwd);
  if (describeSpec(fromSpec) === describeSpec(toSpec))
    throw new CliError('--from and --to name the same store');

  const from = await openStoreSpec(fromSpec, '--from', true);
  let to: OpenedLog | null = null;
  try {
    to = await openStoreSpec(toSpec, '--to', false);
    const [head, anchor] = [await from.audit.head(), await from.audit.anchor()];
    if (toSpec.kind === 'jsonl' && anchor && head && head.seq === anchor.seq)
      throw new CliError(
        `--to: every record of ${from.name} above its trim anchor was trimmed; a JSONL file keeps no anchor ` +
          'apart from the records, so it cannot carry this trail (migrate into a store)',
      );
    io.stdout(`source ${from.name}: head ${headText(head)}${anchor ? `, trim anchor ${anchor.seq}` : ''}\n`);
    let result: Awaited<ReturnType<typeof migrateLog>>;
    try {
      result = await migrateLog(from.audit, to.audit, { pageSize: page });
    } catch (err) {
      if (err instanceof MigrateError && err.reason === 'destination')
        throw new CliError(`--to ${to.name}: ${err.message}`, EXIT_BAD_INPUT);
      if (err instanceof MigrateError)
        throw new CliError(
          `--from ${from.name}: ${err.message}; the copy in ${to.name} is incomplete (run parley audit verify on the source)`,
          EXIT_CHECK_FAILED,
        );
      throw err;
    }
    const held = result.held > 0 ? ` and ${result.held} held below the anchor` : '';
    io.stdout(`copied ${result.copied} records${held} to ${to.name}\n`);
    const v = await verifyLogParallel(to.audit, {
      onWarning: (w) => io.stderr(`parley audit migrate: note: ${w}\n`),
    });
    const copyHead = v.ok ? v.head : await to.audit.head();
    io.stdout(`source head: ${headText(result.head)}\ncopy head:   ${headText(copyHead)}\n`);
    if (!v.ok) {
      io.stdout(`the copy does not verify: broken at record ${v.firstBad}: ${v.problem}\n`);
      return EXIT_CHECK_FAILED;
    }
    const same =
      (result.head === null && v.head === null) ||
      (result.head !== null &&
        v.head !== null &&
        result.head.seq === v.head.seq &&
        result.head.hash === v.head.hash);
    if (!same) {
      io.stdout('the heads differ: the copy is not the source\n');
      return EXIT_CHECK_FAILED;
    }
    io.stdout(`the copy verifies (${v.records} records) with the source's head\n`);
    return EXIT_OK;
  } finally {
    await from.close();
    await to?.close();
  }
}
