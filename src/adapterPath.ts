// The one check of an adapter's "module.Class", for the configuration and the CLI alike.

/** Python identifiers (Unicode ones too, as Python allows them), dotted: `calc.Calc`, `café.Modèle`. */
export const ADAPTER_PATH = /^[\p{XID_Start}_]\p{XID_Continue}*(\.[\p{XID_Start}_]\p{XID_Continue}*)+$/u;
