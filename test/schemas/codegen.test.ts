// The committed schemas/types.generated.ts must be what `npm run codegen` writes for the current .avsc files.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generate, generatedFile } from '../../schemas/codegen.ts';

describe('schemas codegen', () => {
  it('the committed types.generated.ts is up to date (run `npm run codegen` after changing a .avsc)', () => {
    expect(readFileSync(generatedFile, 'utf8')).toBe(generate());
  });

  it('emits one type per record and enum, with the enum symbols as a const array', () => {
    const src = generate();
    for (const name of ['PriceUpdate', 'MarketEvent', 'GraphMutation', 'UpsertNode', 'UpsertRelationship', 'DeleteRelationship', 'NodeRef']) {
      expect(src).toContain(`export interface ${name} {`);
    }
    expect(src).toContain("export const NodeLabels = ['Company', 'Stock', 'Sector', 'Industry', 'MarketEvent'] as const");
    expect(src).toContain("export const RelTypes = ['IN_SECTOR', 'IN_INDUSTRY', 'COMPETES_WITH', 'CORRELATED_WITH', 'AFFECTS'] as const");
    expect(src).toMatch(/eventTime: number;/);
    // a field with a null default may be left out when encoding (avsc writes the default): optional in TS
    expect(src).toMatch(/summary\?: string \| null;/);
    expect(src).toMatch(/vwap\?: number \| null;/);
    expect(src).toMatch(/quality: number;/);
  });
});
