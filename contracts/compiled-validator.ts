import Ajv2020 from 'ajv/dist/2020';
import * as z from 'zod';

const ajv = new Ajv2020({ allErrors: false, validateFormats: false, strict: false });

/**
 * A fast accept/reject check derived from a zod contract (zod -> JSON Schema -> ajv), for hot
 * paths where zod's per-call overhead dominates. It checks the contract's *input* shape; callers
 * still use the zod schema to explain a rejection, so there is one definition and one wording.
 * test/unit/compiled-validator.test.ts asserts that both agree on valid and invalid samples.
 */
export function compileInputValidator<Schema extends z.ZodType>(schema: Schema): (value: unknown) => value is z.input<Schema> {
  const validate = ajv.compile(z.toJSONSchema(schema, { io: 'input' }));
  return (value: unknown): value is z.input<Schema> => validate(value) === true;
}
