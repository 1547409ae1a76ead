import { expect } from 'chai';
import { joinParts, splitParts } from '../../shared/partsKey.js';

describe('parts keys', () => {
  it('gives back exactly the parts joined, whatever they hold', () => {
    const cases = [
      ['get', '', 'pods', '', 'team-a', 'web-1', ''],
      ['', '', ''],
      ['a\u0000b', 'c'],
      ['\u0001', 'x'],
      ['\u0001["y"]'],
      ['x', '\u0000', '\u0001\u0000'],
    ];
    for (const parts of cases) expect(splitParts(joinParts(parts))).to.deep.equal(parts);
  });

  it('keeps distinct part lists distinct', () => {
    const keys = [['a\u0000b', 'c'], ['a', 'b\u0000c'], ['a', 'b', 'c'], ['\u0001["a","b","c"]'], ['\u0001["a","b","c"]', '']].map(joinParts);
    expect(new Set(keys).size).to.equal(keys.length);
  });

  it('joins plain parts with NUL, as the stored keys always were', () => {
    expect(joinParts(['apps', 'deployments', 'prod', 'api'])).to.equal('apps\u0000deployments\u0000prod\u0000api');
  });
});
