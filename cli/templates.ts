// Handlebars, set up in one place for everything the CLI renders: the templates shipped in templates/
// (connector, CircleCI, Airflow, the monitor dashboard) and the monitoring views under sql/. Always strict (a
// missing variable fails loudly) and never HTML-escaped (the output is code, YAML, SQL or prepared HTML).
import {fileURLToPath} from 'node:url';
import Handlebars from 'handlebars';
import {CliConfigError} from './errors.js';

/** The templates shipped with the CLI (this repository's templates/). */
export const TEMPLATES_DIR = fileURLToPath(new URL('../templates/', import.meta.url));

export type TemplateHelpers = Record<string, Handlebars.HelperDelegate>;

/** Compiles a template with its own helpers (an isolated handlebars environment, so helpers never leak). */
export function compileTemplate(source: string, helpers: TemplateHelpers = {}): HandlebarsTemplateDelegate {
  const handlebars = Handlebars.create();
  handlebars.registerHelper(helpers);
  return handlebars.compile(source, {noEscape: true, strict: true});
}

/** Renders a template; a template that does not render is a CliConfigError naming `label`. */
export function renderTemplate(source: string, view: object, label: string, helpers?: TemplateHelpers): string {
  try {
    return compileTemplate(source, helpers)(view);
  } catch (error) {
    throw new CliConfigError(`template ${label} could not be rendered: ${(error as Error).message.split('\n')[0]}`);
  }
}
